"""Token attributions as HTML: each token on a green (for the class) or red (against it) background."""

from __future__ import annotations

from html import escape

from inference.attributions import TokenAttributions

POSITIVE, NEGATIVE = (22, 163, 74), (220, 38, 38)  # green: evidence for the label; red: against it


def token_color(score: float, largest: float) -> str:
    """An rgba background whose opacity is the score's share of the largest absolute score."""
    red, green, blue = POSITIVE if score >= 0 else NEGATIVE
    alpha = min(abs(score) / largest, 1.0) * 0.8 if largest > 0 else 0.0
    return f"rgba({red},{green},{blue},{alpha:.3f})"


def _token_span(token: str, score: float, largest: float) -> str:
    # A shadow widens the highlight without padding, which would open gaps inside words like "$1,800".
    color = token_color(score, largest)
    style = f"background:{color};box-shadow:0 0 0 1px {color};border-radius:2px"
    return f'<span style="{style}" title="{score:+.4f}">{escape(token)}</span>'


UNREAD_SHOWN = 300  # characters of the unread part shown
UNREAD_STYLE = "color:#999;text-decoration:line-through;text-decoration-color:#ccc"
UNREAD_TITLE = "not read by the model: the text (or pair) is longer than its max_length"


def _plain(text: str, start: int, end: int, unread: list[tuple[int, int]]) -> str:
    """text[start:end] between tokens; the parts the length cut left out (a text's, or each text's of a pair) are
    greyed and say so on hover."""
    pieces, cursor = [], start
    for cut_start, cut_end in sorted(unread):
        cut_start, cut_end = max(cursor, cut_start), min(end, cut_end)
        if cut_start >= cut_end:
            continue
        unread_text = text[cut_start:cut_end]
        if len(unread_text) > UNREAD_SHOWN:  # a long article would bury the explanation under pages of grey text
            unread_text = (
                f"{unread_text[:UNREAD_SHOWN]} … ({len(unread_text) - UNREAD_SHOWN:,} more characters not read)"
            )
        pieces.append(escape(text[cursor:cut_start]))
        pieces.append(f'<span style="{UNREAD_STYLE}" title="{UNREAD_TITLE}">{escape(unread_text)}</span>')
        cursor = cut_end
    pieces.append(escape(text[cursor:end]))
    return "".join(pieces)


def attributions_html(attributions: TokenAttributions) -> str:
    """An HTML fragment (inline styles, no <html>/<body>) of the text with its tokens highlighted by score."""
    largest = max((abs(score) for score in attributions.scores), default=0.0)
    pieces = []
    if attributions.offsets and len(attributions.offsets) == len(attributions.tokens):
        # The text as read, with the characters between tokens (spaces, dropped punctuation) left plain.
        text, unread = attributions.text, attributions.unread
        cursor = 0
        for (start, end), score in zip(attributions.offsets, attributions.scores, strict=True):
            pieces.append(_plain(text, cursor, start, unread))
            pieces.append(_token_span(text[start:end], score, largest))
            cursor = end
        pieces.append(_plain(text, cursor, len(text), unread))
    else:
        pairs = zip(attributions.tokens, attributions.scores, strict=True)
        pieces = [_token_span(token, score, largest) + " " for token, score in pairs]
    body = "".join(pieces) if attributions.tokens else f"<em>{escape('(no words left to explain)')}</em>"
    method = attributions.method.replace("_", " ")
    value = attributions.explains == "value"
    header = (
        f'<div style="font-size:0.85em;color:#555;margin-bottom:4px">'
        f"<b>{escape(attributions.label)}</b> ({attributions.explains} {attributions.probability:.3f}); "
        f"{escape(method)}: "
        f'<span style="background:{token_color(0.6, 1)}">{"raises" if value else "for"}</span> / '
        f'<span style="background:{token_color(-0.6, 1)}">{"lowers" if value else "against"}</span> '
        f"{'the value' if value else 'the class'}</div>"
    )
    text = f'<div style="line-height:1.9;white-space:pre-wrap;font-family:sans-serif">{body}</div>'
    return f'<div class="token-attributions">{header}{text}</div>'


def explanation_page(title: str, sections: list[tuple[str, str, list[str]]]) -> str:
    """A standalone HTML page: for each (heading, attributions fragment, image file names) a section."""
    parts = []
    for heading, fragment, images in sections:
        pictures = "".join(
            f'<img src="{escape(name)}" alt="{escape(name)}" style="max-width:48%;vertical-align:top;margin:4px">'
            for name in images
        )
        parts.append(
            f'<section style="margin:18px 0;padding:12px;border:1px solid #ddd;border-radius:6px">'
            f'<h3 style="margin:0 0 8px 0;font-family:sans-serif">{escape(heading)}</h3>{fragment}<div>{pictures}</div>'
            "</section>"
        )
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title></head>'
        f'<body style="max-width:1100px;margin:auto;font-family:sans-serif">'
        f"<h1>{escape(title)}</h1>{''.join(parts)}</body></html>\n"
    )
