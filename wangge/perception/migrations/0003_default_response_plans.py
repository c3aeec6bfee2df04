"""The shipped response plans (预案), one per alarm type, in Chinese and English. An
administrator edits them afterwards; this adds only the types that have none."""

from django.db import migrations

PLANS = [
    (
        "gas",
        "燃气泄漏处置预案",
        "Gas leak response plan",
        "0601",
        "emergency",
        [
            ("立即电话联系住户，提醒不要开关任何电器、不要使用明火", "Call the household at once: do not switch any electrical appliance on or off, no open flame"),
            ("请住户开窗通风，关闭燃气总阀门", "Ask them to open the windows and close the main gas valve"),
            ("引导住户离开房屋，到室外安全处等候", "Get the residents out of the home to a safe place outside"),
            ("拨打119报警，并通知燃气公司抢修（96877）", "Call 119 and the gas company's emergency repair line"),
            ("赶赴现场，在门外不要按门铃、不要打电话", "Go to the home; outside the door do not ring the bell or use a phone"),
            ("协助消防与燃气人员入户处置，确认无人员受伤", "Help the fire brigade and gas company in; make sure nobody is hurt"),
            ("处置完毕后在系统中填写处置情况", "Record what was done when it is over"),
        ],
    ),
    (
        "smoke",
        "烟雾报警处置预案",
        "Smoke alarm response plan",
        "1201",
        "emergency",
        [
            ("立即电话联系住户，确认是否起火", "Call the household at once: is there a fire?"),
            ("如有明火或浓烟，立即拨打119，引导住户用湿毛巾捂住口鼻、低姿撤离，不要乘电梯", "If there is fire or thick smoke, call 119; residents leave low with a wet cloth over mouth and nose, never by lift"),
            ("联系不上住户时，立即赶赴现场并通知物业", "If nobody answers, go to the home at once and call the property company"),
            ("通知楼内邻居疏散，打开消防通道", "Warn the neighbours to leave and keep the fire lane open"),
            ("确认为误报（如做饭油烟）时，在系统中标记误报", "If it was a false alarm (cooking fumes), mark it a false alarm"),
        ],
    ),
    (
        "leak",
        "漏水报警处置预案",
        "Water leak response plan",
        "1201",
        "emergency",
        [
            ("电话联系住户，提醒关闭进户水阀", "Call the household: close the main water valve"),
            ("提醒住户断开漏水区域附近电源，防止触电", "Switch off the power near the water to avoid electric shock"),
            ("住户不在家时，联系物业关闭单元总阀", "If nobody is home, have the property company close the building's valve"),
            ("通知楼下住户检查是否渗漏", "Ask the flat below to check for water coming through"),
            ("联系维修人员处置，处置后记录情况", "Call a repairer; record what was done"),
        ],
    ),
    (
        "sos",
        "紧急呼叫处置预案",
        "Emergency call response plan",
        "0801",
        "emergency",
        [
            ("立即回拨住户电话，了解情况", "Call the resident back at once and find out what happened"),
            ("如有人身危险或突发疾病，立即拨打120/110", "If life is in danger or someone is taken ill, call 120 / 110"),
            ("联系不上时，立即赶赴现场，并通知紧急联系人", "If there is no answer, go to the home and call the emergency contacts"),
            ("必要时联系物业或社区民警协助开门", "If needed, ask the property company or the community police to open the door"),
            ("处置完毕后记录情况", "Record what was done"),
        ],
    ),
    (
        "fall",
        "跌倒报警处置预案",
        "Fall alarm response plan",
        "0801",
        "emergency",
        [
            ("立即电话联系老人，确认是否跌倒受伤", "Call the person at once: have they fallen, are they hurt?"),
            ("提醒不要急于起身，如有受伤立即拨打120", "Tell them not to get up in a hurry; if hurt, call 120"),
            ("通知紧急联系人，并赶赴现场", "Tell the emergency contacts and go to the home"),
            ("必要时联系物业或社区民警协助开门", "If needed, ask the property company or the community police to open the door"),
            ("陪同就医或确认安全后记录情况", "Go with them to hospital or make sure they are safe; record what was done"),
        ],
    ),
    (
        "door",
        "门磁报警处置预案",
        "Door alarm response plan",
        "0702",
        "urgent",
        [
            ("电话联系住户，确认是否本人开门", "Call the household: did they open the door themselves?"),
            ("联系不上且有异常时，通知社区民警并赶赴现场", "If nobody answers and something is wrong, call the community police and go there"),
            ("确认为误报时，在系统中标记误报", "If it was a false alarm, mark it so"),
        ],
    ),
    (
        "inactivity",
        "独居老人无活动关怀预案",
        "No-activity welfare check plan",
        "0801",
        "urgent",
        [
            ("电话联系老人，确认身体状况", "Call the person and ask how they are"),
            ("联系不上时，通知紧急联系人并尽快上门探访", "If there is no answer, tell the emergency contacts and visit as soon as possible"),
            ("上门无人应答且有异常迹象时，联系社区民警、物业协助开门，必要时拨打120", "If nobody opens and something seems wrong, ask the police and property company to open the door; call 120 if needed"),
            ("探访后记录老人状况", "Record how the person is after the visit"),
        ],
    ),
]


def install(apps, schema_editor):
    ResponsePlan = apps.get_model("perception", "ResponsePlan")
    for alarm_type, title, title_en, category, urgency, steps in PLANS:
        if ResponsePlan.objects.filter(alarm_type=alarm_type).exists():
            continue
        ResponsePlan.objects.create(
            alarm_type=alarm_type,
            title=title,
            title_en=title_en,
            steps="\n".join(zh for zh, _en in steps),
            steps_en="\n".join(en for _zh, en in steps),
            escalate_minutes=5,
            category=category,
            urgency=urgency,
        )


class Migration(migrations.Migration):
    dependencies = [("perception", "0002_alarms_plans_issues")]

    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
