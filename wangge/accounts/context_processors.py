from django.utils.functional import SimpleLazyObject

from wangge.accounts.rules import rule
from wangge.accounts.selectors import post_choices


def post(request):
    """The active post, the user's other posts, and what the post may do (for the menu)."""
    p = getattr(request, "post", None)
    return {
        "active_post": p,
        "user_posts": getattr(request, "posts", []),
        "post_choices": SimpleLazyObject(lambda: post_choices(actor=request.user)),
        "post_perms": {perm.value for perm in rule(p.role).perms} if p else set(),
    }
