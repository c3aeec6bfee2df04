from django.conf import settings


def site(request):
    return {"WANGGE_TILE_URL": settings.WANGGE_TILE_URL}
