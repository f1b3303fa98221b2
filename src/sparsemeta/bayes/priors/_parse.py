"""Strict parsing of prior strings such as ``halfnormal(scale=0.5)`` (never ``eval``)."""

from __future__ import annotations

import ast
import re
from dataclasses import MISSING, fields
from typing import Any

from sparsemeta.errors import DataError, PriorError

#: longest prior string parsed (the longest real one, a Turner et al. 2015 prior with its
#: outcome and comparison names, has about 100 characters)
MAX_LENGTH = 1000
#: deepest bracket nesting parsed (``name(...)`` needs one level)
MAX_DEPTH = 2


def parse_call(
    text: str, registry: dict[str, type], kind: str, elsewhere: dict[str, str] | None = None
) -> Any:
    """Turn ``name(arg, key=value, ...)`` (or a bare ``name``) into ``registry[name](...)``.

    Arguments must be number or string literals (a leading minus sign is allowed).
    Raises :class:`PriorError` naming the prior, the parameter and the problem;
    ``elsewhere`` maps names that belong to another registry to a hint for the message.
    """
    if not isinstance(text, str):
        raise PriorError(f"{kind} prior must be given as a string, got {text!r}")
    if len(text) > MAX_LENGTH:
        raise PriorError(
            f"cannot parse {kind} prior {text[:40]!r}...: {len(text)} characters, more than "
            f"the {MAX_LENGTH} a prior string may have"
        )
    depth = deepest = 0
    for char in re.sub(r'"[^"]*"|\'[^\']*\'', "", text):  # brackets outside quotes
        depth += (char in "([{") - (char in ")]}")
        deepest = max(deepest, depth)
    if deepest > MAX_DEPTH:
        raise PriorError(
            f"cannot parse {kind} prior {text[:40]!r}...: brackets nested {deepest} deep; "
            f"a prior is name(arguments) with plain literals as arguments"
        )
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except (SyntaxError, RecursionError, MemoryError) as exc:
        msg = exc.msg if isinstance(exc, SyntaxError) else "nested too deeply"
        raise PriorError(f"cannot parse {kind} prior {text!r}: {msg}") from None
    if isinstance(node, ast.Name):
        func, args, keywords = node.id, [], []
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        func, args, keywords = node.func.id, node.args, node.keywords
    else:
        raise PriorError(f"cannot parse {kind} prior {text!r}: expected name(arguments)")
    if func not in registry:
        hint = f" ({elsewhere[func]})" if elsewhere and func in elsewhere else ""
        raise PriorError(f"unknown {kind} prior {func!r}{hint}; valid names: {', '.join(registry)}")
    cls = registry[func]
    names = [f.name for f in fields(cls)]
    required = [
        f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING
    ]
    kwargs: dict[str, Any] = {}
    if args:
        forms = cls.positional or (tuple(names),)
        form = next((f for f in forms if len(f) == len(args)), None)
        if form is None and len(args) <= len(names) and cls.positional is None:
            form = tuple(names[: len(args)])
        if form is None:
            raise PriorError(
                f"{func}: too many positional arguments ({len(args)}); "
                f"parameters: {', '.join(names) or 'none'}"
            )
        for key, arg in zip(form, args, strict=True):
            kwargs[key] = _literal(func, key, arg)
    for kw in keywords:
        if kw.arg is None:
            raise PriorError(f"{func}: '**' arguments are not allowed")
        if kw.arg not in names:
            raise PriorError(
                f"{func}: unknown parameter {kw.arg!r}; parameters: {', '.join(names) or 'none'}"
            )
        if kw.arg in kwargs:
            raise PriorError(f"{func}: parameter {kw.arg!r} given more than once")
        kwargs[kw.arg] = _literal(func, kw.arg, kw.value)
    missing = [r for r in required if r not in kwargs]
    if missing:
        raise PriorError(f"{func}: missing parameter(s) {', '.join(map(repr, missing))}")
    return cls(**kwargs)


def _literal(func: str, key: str, node: ast.expr) -> Any:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        if isinstance(node.operand, ast.UnaryOp):
            raise PriorError(f"{func}: parameter {key!r} has more than one sign")
        inner = _literal(func, key, node.operand)
        if isinstance(inner, str):
            raise PriorError(f"{func}: parameter {key!r} must be a number or a string literal")
        return -inner if isinstance(node.op, ast.USub) else inner
    if (
        isinstance(node, ast.Constant)
        and not isinstance(node.value, bool)
        and isinstance(node.value, int | float | str)
    ):
        return node.value
    raise PriorError(
        f"{func}: parameter {key!r} must be a number or a string literal, got {ast.unparse(node)!r}"
    )


def split_list(text: str) -> list[str]:
    """Split a comma-separated list, keeping commas inside brackets and quotes.

    ``'dl,halfnormal(0.5),turner2015(outcome="pain", comparison="pharm vs placebo")'`` gives
    three items. Empty items are dropped; surrounding whitespace is stripped.

    Raises
    ------
    DataError
        Unbalanced brackets or an unterminated quote.
    """
    items: list[str] = []
    quote, start = "", 0
    pairs = {")": "(", "]": "[", "}": "{"}
    stack: list[str] = []
    for pos, char in enumerate(text):
        if quote:
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char in "([{":
            stack.append(char)
        elif char in pairs:
            if not stack or stack.pop() != pairs[char]:
                raise DataError(f"unbalanced {char!r} at position {pos} in {text!r}")
        elif char == "," and not stack:
            items.append(text[start:pos])
            start = pos + 1
    if quote or stack:
        raise DataError(f"unterminated {'quote' if quote else 'bracket'} in {text!r}")
    items.append(text[start:])
    return [item.strip() for item in items if item.strip()]
