from django.shortcuts import render


def confirm(
    request, *, title: str, message: str, action: str, cancel_url: str, danger: bool = True
):
    """The page a destructive action shows on GET: it says what will happen and posts
    back to the same URL."""
    return render(
        request,
        "console/confirm.html",
        {
            "title": title,
            "message": message,
            "action": action,
            "cancel_url": cancel_url,
            "danger": danger,
        },
    )
