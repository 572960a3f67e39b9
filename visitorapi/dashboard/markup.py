"""Safe HTML composition: everything is escaped unless it is already :class:`Html`.

The dashboard renders pages by composing small fragments. A plain ``str``
is text and gets ``html.escape``d (quotes too, so it is safe inside
attribute values); a fragment built by :func:`render` or :class:`Html` is
markup and is inserted as is. This makes "forgot to escape" the hard
mistake to make: a project name such as ``<script>`` reaches the page only
through :func:`render`'s escaping.
"""
import html


class Html(str):
    """A string that is already safe markup."""

    __slots__ = ()

    def __add__(self, other):
        return Html(str.__add__(self, escape(other)))


def escape(value) -> Html:
    """Text to markup: ``Html`` passes, ``None`` is empty, anything else is ``str()``ed and escaped."""
    if isinstance(value, Html):
        return value
    if value is None:
        return Html("")
    return Html(html.escape(str(value), quote=True))


def render(template: str, *args, **values) -> Html:
    """``template.format(*args, **values)`` with every value escaped unless it is :class:`Html`.

    The template itself is trusted markup written in this package; values
    are data.
    """
    return Html(template.format(*map(escape, args),
                                **{name: escape(value) for name, value in values.items()}))


def join(fragments, separator: str = "") -> Html:
    """Concatenate fragments, escaping any plain strings among them."""
    return Html(separator.join(escape(fragment) for fragment in fragments))
