from directory.models import User


def link_in(message) -> str:
    """The first portal link in a message's plain-text body."""
    for word in message.body.split():
        if "/portal/" in word:
            return word
    raise AssertionError("no portal link in the message")


def reload(user: User) -> User:
    return User.objects.get(pk=user.pk)
