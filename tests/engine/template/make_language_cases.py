#!/usr/bin/env python3
"""Regenerates language_cases.json: template-language feature cases with the output real Jinja2
produces when set up like Hugging Face's apply_chat_template (ImmutableSandboxedEnvironment,
trim_blocks, lstrip_blocks, loopcontrols, raise_exception, tojson = json.dumps with
ensure_ascii=False, strftime_now pinned to 2026-11-21).

Needs Python 3 with jinja2 (3.1.x):
  python3 make_language_cases.py > language_cases.json
  python3 make_language_cases.py --scenarios > template_scenarios.json   (real templates of ../shared)
Each case: name, template, vars (extra variables) and either "expected" (exact output) or
"error" (Jinja2 raised; "message" is set when our message must be identical: raise_exception).
"""
import datetime
import json
import os
import sys

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment


class Raised(Exception):
    pass


SHARED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "..", "shared")


def raise_exception(message):
    raise Raised(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def environment():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.datetime(2026, 11, 21, 12, 0).strftime(fmt)
    return env


MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello", "tool_calls": [{"function": {"name": "f", "arguments": {"x": 1}}}]},
]

CASES = [
    # --- text and whitespace control ---
    ("text_only", "Hello, world!", {}),
    ("trailing_newline_dropped", "line\n", {}),
    ("only_one_trailing_newline_dropped", "line\n\n", {}),
    ("trim_blocks_drops_newline_after_tag", "{% if true %}\nyes\n{% endif %}\nafter", {}),
    ("lstrip_blocks_drops_indentation", "a\n    {% if true %}\n    b\n    {% endif %}\nc", {}),
    ("lstrip_not_for_expressions", "a\n    {{ 'x' }}\nc", {}),
    ("minus_strips_both_sides", "a   \n  {%- if true -%}  \n  b  {%- endif -%}\n  c", {}),
    ("expression_minus", "a  {{- 'b' -}}  c", {}),
    ("plus_disables_lstrip", "a\n    {%+ if true %}b{% endif %}", {}),
    ("plus_disables_trim", "{% if true +%}\nb{% endif %}", {}),
    ("comment_removed", "a {# comment #} b", {}),
    ("comment_own_line_trimmed", "a\n  {# comment #}\nb", {}),
    ("comment_minus", "a  {#- comment -#}  b", {}),
    ("raw_block", "{% raw %}{{ not evaluated }}{% endraw %}", {}),
    ("raw_block_trimmed", "x\n  {% raw %}\n{% if %}\n  {% endraw %}\ny", {}),
    ("lstrip_only_when_alone_on_line", "a  {% if true %}b{% endif %}\n  x {% if true %}y{% endif %}\n\t{% if true %}z{% endif %}", {}),
    ("lstrip_after_trimmed_tag", "{% if true %}\n    {% if true %}\n  in\n    {% endif %}\n{% endif %}", {}),
    ("raw_with_whitespace_control", "a  {%- raw -%}  {{ x }}  {%- endraw -%}  b", {}),
    ("comment_at_start_then_indented_tag", "{# c #}\n   {% set x = 1 %}\n{{ x }}", {}),
    ("expression_end_does_not_trim", "{{ 'a' }}\n{{ 'b' }}\n", {}),
    ("minus_strips_newlines_across_lines", "a\n\n   {{- 'b' -}}\n\n   c", {}),
    ("crlf_normalized", "a\r\n{% if true %}\r\nb\r\n{% endif %}\r\n", {}),
    # --- literals and printing ---
    ("string_escapes", r"""{{ 'a\tb\n' ~ "q\"uote" ~ 'it\'s' ~ '\u00e9\x41' }}""", {}),
    ("adjacent_strings", "{{ 'a' 'b' \"c\" }}", {}),
    ("integers_and_floats", "{{ 1 }} {{ 1.5 }} {{ 2.0 }} {{ 1_000 }} {{ 1e3 }} {{ 0.1 + 0.2 }}", {}),
    ("float_repr", "{{ 1e-05 }} {{ 1e16 }} {{ 123456789.0 }} {{ 0.0001 }} {{ -0.5 }} {{ 1/3 }}", {}),
    ("booleans_and_none", "{{ true }} {{ True }} {{ false }} {{ none }} {{ None }}", {}),
    ("print_list_repr", "{{ ['a', 1, 2.5, true, none, [\"it's\"]] }}", {}),
    ("print_dict_repr", "{{ {'a': 1, 'b': 'x', 'c': [1]} }}", {}),
    ("print_tuple_repr", "{{ (1, 'a') }} {{ (1,) }} {{ () }}", {}),
    ("print_undefined_is_empty", "[{{ nothing }}][{{ messages[7] }}][{{ d.missing }}]", {"d": {}, "messages": []}),
    ("print_tuple_expression", "{{ 1, 2 }}", {}),
    ("print_json_values", "{{ value }}", {"value": {"k": [1, None, True, "s"]}}),
    # --- operators ---
    ("arithmetic", "{{ 7 + 3 }} {{ 7 - 10 }} {{ 7 * 3 }} {{ 7 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 2 ** -1 }}", {}),
    ("float_arithmetic", "{{ 7.5 // 2 }} {{ 7.5 % 2 }} {{ 1 + 1.0 }} {{ true + 1 }}", {}),
    ("precedence", "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ -2 ** 2 }} {{ 2 * 3 ~ 4 }} {{ 10 - 2 - 3 }}", {}),
    ("string_concat_and_repeat", "{{ 'ab' + 'cd' }} {{ 'ab' ~ 1 ~ none }} {{ 'ab' * 3 }} {{ [1] * 2 }} {{ [1] + [2] }}", {}),
    ("comparisons", "{{ 1 < 2 }} {{ 2 <= 1 }} {{ 'a' < 'b' }} {{ 1 == 1.0 }} {{ 'a' != 'a' }} {{ [1, 2] < [1, 3] }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }}", {}),
    ("in_operator", "{{ 'b' in 'abc' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 'x' not in 'abc' }} {{ 3 not in [1] }}", {}),
    ("logic_returns_operands", "{{ 0 or 'x' }} {{ 'a' and 'b' }} {{ '' and 'b' }} {{ none or [] }} {{ not 0 }} {{ not 'a' }}", {}),
    ("conditional_expression", "{{ 'yes' if 1 else 'no' }} {{ 'yes' if 0 else 'no' }} [{{ 'only' if false }}] {{ 'a' if false else 'b' if true else 'c' }}", {}),
    ("precedence_filter_binds_tight", "{{ 'a' + 'b' | upper }} {{ -3 | abs }} {{ 1 + -1 | abs }}", {}),
    ("not_precedence", "{{ not true == false }} {{ not x is defined }} {{ not 1 in [1] }}", {}),
    # --- attribute, item access, slicing ---
    ("attribute_and_item", "{{ m.role }} {{ m['content'] }} {{ items[0] }} {{ items[-1] }} {{ items.1 }}", {"m": {"role": "user", "content": "hi"}, "items": ["a", "b"]}),
    ("nested_access", "{{ messages[2].tool_calls[0].function.name }} {{ messages[2]['tool_calls'][0]['function']['arguments']['x'] }}", {"messages": MESSAGES}),
    ("slicing_lists", "{{ l[1:] }} {{ l[:-1] }} {{ l[::-1] }} {{ l[::2] }} {{ l[1:3] }} {{ l[-2:] }} {{ l[5:] }} {{ l[3:1:-1] }}", {"l": [0, 1, 2, 3, 4]}),
    ("slicing_strings_unicode", "{{ s[1:] }}|{{ s[:-1] }}|{{ s[::-1] }}|{{ s[0] }}|{{ s[-1] }}|{{ s|length }}", {"s": "äb🦙c"}),
    ("missing_key_is_undefined", "{{ m.tool_calls is defined }} {{ m['x'] is defined }} {{ m.get('x', 'dflt') }} {{ l[10] is defined }}", {"m": {}, "l": []}),
    ("dict_key_named_like_method", "{{ d['items'] }} {{ d.items() | list }}", {"d": {"items": 3}}),
    # --- statements ---
    ("if_elif_else", "{% for n in [1, 2, 3] %}{% if n == 1 %}one{% elif n == 2 %}two{% else %}many{% endif %},{% endfor %}", {}),
    ("for_loop_variables", "{% for x in 'abc' %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }};{% endfor %}", {}),
    ("for_prev_next_items", "{% for x in [1, 2, 3] %}[{{ loop.previtem }}|{{ loop.nextitem }}]{% endfor %}", {}),
    ("for_cycle", "{% for x in range(5) %}{{ loop.cycle('odd', 'even') }} {% endfor %}", {}),
    ("for_else", "{% for x in [] %}item{% else %}empty{% endfor %} {% for x in [1] %}item{% else %}empty{% endfor %}", {}),
    ("for_filter", "{% for x in range(10) if x % 3 == 0 %}{{ x }}{{ loop.length }}{{ ',' if not loop.last }}{% endfor %}", {}),
    ("for_unpack_items", "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{% for k, v in d | items %}{{ k }}{% endfor %}{% for (a, b) in [[1, 2]] %}{{ a + b }}{% endfor %}", {"d": {"b": 1, "a": 2}}),
    ("for_over_dict_gives_keys", "{% for k in d %}{{ k }}{% endfor %}", {"d": {"x": 1, "y": 2}}),
    ("for_over_undefined_is_empty", "{% for x in nothing %}x{% else %}none{% endfor %}", {}),
    ("break_continue", "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}", {}),
    ("nested_loops", "{% for a in [1, 2] %}{% for b in 'xy' %}{{ loop.index }}{{ a }}{{ b }} {% endfor %}{{ loop.index }}|{% endfor %}", {}),
    ("set_in_loop_does_not_leak", "{% set total = 0 %}{% for x in [1, 2] %}{% set total = total + x %}{% endfor %}{{ total }}", {}),
    ("set_in_if_leaks", "{% if true %}{% set v = 'set' %}{% endif %}{{ v }}", {}),
    ("namespace_carries_out_of_loop", "{% set ns = namespace(total=0, names=[]) %}{% for x in [1, 2, 3] %}{% set ns.total = ns.total + x %}{% endfor %}{{ ns.total }} {{ ns.names }}", {}),
    ("namespace_empty_then_set", "{% set ns = namespace() %}{% set ns.a = 'x' %}{{ ns.a }}{{ ns.b is defined }}", {}),
    ("set_tuple_unpack", "{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set c, d = ['x', 'y'] %}{{ c }}{{ d }}", {}),
    ("block_set", "{% set block %}\n  Hello {{ name }}!\n{% endset %}[{{ block }}]", {"name": "Bob"}),
    ("set_overrides_context_variable", "{% set messages = messages[1:] %}{{ messages | length }}", {"messages": MESSAGES}),
    ("macro_with_defaults", "{% macro greet(name, greeting='Hello', punct='!') %}{{ greeting }}, {{ name }}{{ punct }}{% endmacro %}{{ greet('Ann') }} {{ greet('Bob', 'Hi') }} {{ greet('Cy', punct='?') }}", {}),
    ("macro_sees_globals", "{% macro show() %}{{ bos }}{% endmacro %}{{ show() }}", {"bos": "<s>"}),
    ("macro_varargs_kwargs", "{% macro m(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, 3, k='v') }}", {}),
    ("macro_recursion", "{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * fact(n - 1) | int }}{% endif %}{% endmacro %}{{ fact(5) }}", {}),
    ("call_block", "{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{% call wrap('b') %}bold {{ 1 + 1 }}{% endcall %}", {}),
    ("call_block_with_args", "{% macro each(items) %}{% for i in items %}{{ caller(i) }}{% endfor %}{% endmacro %}{% call(x) each([1, 2]) %}[{{ x }}]{% endcall %}", {}),
    ("filter_block", "{% filter upper %}hello {{ name }}{% endfilter %} {% filter trim | replace('a', 'o') %}  banana  {% endfilter %}", {"name": "ann"}),
    ("with_block", "{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}[{{ a }}]", {}),
    # --- tests ---
    ("tests_types", "{{ 1 is number }}{{ 1.5 is float }}{{ 1 is integer }}{{ true is integer }}{{ true is boolean }}{{ 's' is string }}{{ {} is mapping }}{{ [] is sequence }}{{ 's' is iterable }}{{ 1 is iterable }}{{ none is none }}{{ range is callable }}", {}),
    ("tests_values", "{{ 3 is odd }}{{ 4 is even }}{{ 9 is divisibleby 3 }}{{ 9 is divisibleby(4) }}{{ 'a' is equalto 'a' }}{{ 1 is eq 2 }}{{ 1 is ne 2 }}{{ 1 is lt 2 }}{{ 3 is gt 2 }}{{ 2 is ge 2 }}{{ 1 is le 0 }}{{ 1 is in [1] }}", {}),
    ("tests_true_false_defined", "{{ true is true }}{{ 1 is true }}{{ false is false }}{{ x is defined }}{{ x is undefined }}{{ y is not none }}{{ y is defined }}{{ 'ab' is lower }}{{ 'AB' is upper }}{{ none is sameas none }}", {"y": 1}),
    ("test_negation", "{{ 1 is not string }} {{ 'a' is not string }} {{ m.content is not defined }}", {"m": {}}),
    ("iterable_is_true_for_strings", "{% if c is mapping or c is iterable %}{{ c | tojson }}{% else %}{{ c }}{% endif %}", {"c": "text"}),
    # --- filters ---
    ("filter_trim", "[{{ '  a b \n' | trim }}][{{ 'xxaxx' | trim('x') }}]", {}),
    ("filter_length_count", "{{ [1, 2] | length }}{{ 'äbc' | length }}{{ {'a': 1} | count }}{{ nothing | length }}", {}),
    ("filter_tojson_compact", "{{ v | tojson }}", {"v": {"name": "f", "args": [1, 2.5, True, None], "nested": {"é": "ünï"}, "empty": {}, "list": []}}),
    ("filter_tojson_indent", "{{ v | tojson(indent=4) }}", {"v": {"name": "f", "parameters": {"type": "object", "properties": {"x": {"type": "int"}}}, "l": [1, [2]], "e": [], "o": {}}}),
    ("filter_tojson_escapes", "{{ v | tojson }}", {"v": "quote\" back\\ nl\n tab\t ctrl\u0001 <html>&'"}),
    ("filter_tojson_options", "{{ v | tojson(sort_keys=true) }} {{ v | tojson(separators=(',', ':')) }} {{ 'é' | tojson(ensure_ascii=true) }}", {"v": {"b": 1, "a": [1, 2]}}),
    ("filter_tojson_scalars", "{{ 1 | tojson }} {{ 1.5 | tojson }} {{ none | tojson }} {{ true | tojson }} {{ 'a' | tojson }}", {}),
    ("filter_items", "{% for k, v in {'a': 1, 'b': 2} | items %}{{ k }}{{ v }}{% endfor %}", {}),
    ("filter_selectattr_rejectattr", "{{ messages | selectattr('role', 'equalto', 'user') | map(attribute='content') | list }} {{ messages | rejectattr('role', 'eq', 'user') | map(attribute='role') | join(',') }} {{ messages | selectattr('tool_calls', 'defined') | list | length }} {{ messages | selectattr('tool_calls') | list | length }}", {"messages": MESSAGES}),
    ("filter_select_reject", "{{ [1, 2, 3, 4] | select('odd') | list }} {{ [1, 2, 3, 4] | reject('odd') | list }} {{ [0, 1, '', 'a'] | select | list }} {{ ['a', 'code_interpreter'] | reject('equalto', 'code_interpreter') | join(', ') }}", {}),
    ("filter_map", "{{ ['a', 'b'] | map('upper') | join }} {{ users | map(attribute='name') | join(', ') }} {{ users | map(attribute='age', default=0) | list }} {{ [1.5, 2.5] | map('int') | list }}", {"users": [{"name": "x", "age": 3}, {"name": "y"}]}),
    ("filter_attribute_dotted", "{{ calls | map(attribute='function.name') | join(',') }}", {"calls": [{"function": {"name": "a"}}, {"function": {"name": "b"}}]}),
    ("filter_join", "{{ [1, 2, 3] | join }} {{ [1, 2, 3] | join(', ') }} {{ users | join('/', attribute='name') }}", {"users": [{"name": "x"}, {"name": "y"}]}),
    ("filter_first_last", "{{ [1, 2, 3] | first }} {{ [1, 2, 3] | last }} {{ 'abc' | first }} {{ 'abc' | last }} [{{ [] | first }}]", {}),
    ("filter_default", "{{ x | default('dflt') }} {{ x | d('d') }} {{ '' | default('empty') }} {{ '' | default('empty', true) }} {{ none | default('n') }} {{ 0 | default(5, boolean=true) }}", {}),
    ("filter_case", "{{ 'hello WORLD' | upper }} {{ 'Hello' | lower }} {{ 'hello big-world (test)' | title }} {{ 'hELLO there' | capitalize }} {{ 'äöü' | upper }}", {}),
    ("filter_replace", "{{ 'aaa' | replace('a', 'b') }} {{ 'aaa' | replace('a', 'b', 2) }} {{ 'abc' | replace('', '-') }}", {}),
    ("filter_conversions", "{{ '42' | int }} {{ '4.7' | int }} {{ 'x' | int }} {{ 'x' | int(7) }} {{ 3.9 | int }} {{ '2.5' | float }} {{ 'y' | float }} {{ 3 | float }} {{ 5 | string ~ 'x' }} {{ 'ff' | int(base=16) }}", {}),
    ("filter_list_unique_reverse", "{{ 'abc' | list }} {{ [3, 1, 3, 'A', 'a'] | unique | list }} {{ [1, 2, 3] | reverse | list }} {{ 'abc' | reverse }} {{ {'k': 1, 'j': 2} | list }}", {}),
    ("filter_sort", "{{ [3, 1, 2] | sort }} {{ ['b', 'A', 'c'] | sort }} {{ ['b', 'A', 'c'] | sort(case_sensitive=true) }} {{ [3, 1, 2] | sort(reverse=true) }} {{ users | sort(attribute='age') | map(attribute='name') | join }}", {"users": [{"name": "x", "age": 3}, {"name": "y", "age": 1}]}),
    ("filter_numbers", "{{ -5 | abs }} {{ -2.5 | abs }} {{ 2.567 | round(2) }} {{ 2.5 | round }} {{ 3.5 | round }} {{ 2.1 | round(method='ceil') }} {{ 2.9 | round(0, 'floor') }} {{ [1, 2, 3] | sum }} {{ [1, 5, 3] | max }} {{ [4, 2, 8] | min }}", {}),
    ("filter_indent", "{{ 'a\nb\n\nc' | indent }}|{{ 'a\nb' | indent(2, true) }}|{{ 'a\n\nb' | indent(2, blank=true) }}|{{ 'x\ny' | indent('> ') }}", {}),
    ("filter_misc", "{{ [1, 2, 3, 4, 5] | batch(2) | list }} {{ 'one two  three' | wordcount }} {{ {'b': 1, 'a': 2} | dictsort }} {{ '%s-%d' | format('a', 3) }} {{ '<a href=\"x\">&' | e }} {{ 'x' | safe }} {{ 'a' | center(5) }}|", {}),
    ("filter_truncate", "{{ 'hello world foo bar' | truncate(9) }} {{ 'hello world foo bar' | truncate(9, true) }} {{ 'short' | truncate(9) }}", {}),
    # --- methods ---
    ("string_strip_methods", "[{{ '  a  '.strip() }}][{{ '  a  '.lstrip() }}][{{ '  a  '.rstrip() }}][{{ '\n\nx\n'.strip('\n') }}][{{ 'xyaxy'.strip('xy') }}][{{ 'abc'.lstrip('ba') }}]", {}),
    ("string_split", "{{ 'a,b,,c'.split(',') }} {{ ' a  b '.split() }} {{ 'a,b,c'.split(',', 1) }} {{ 'a,b,c'.rsplit(',', 1) }} {{ 'x</think>y'.split('</think>')[-1] }} {{ 'l1\nl2\r\nl3'.splitlines() }}", {}),
    ("string_predicates", "{{ 'abc'.startswith('ab') }} {{ 'abc'.endswith('bc') }} {{ 'abc'.startswith(('x', 'a')) }} {{ '123'.isdigit() }} {{ 'ab'.isalpha() }} {{ '  '.isspace() }} {{ 'AB'.isupper() }} {{ 'ab'.islower() }}", {}),
    ("string_transform", "{{ 'a-b-c'.replace('-', '+') }} {{ 'a-b-c'.replace('-', '', 1) }} {{ 'hello world'.title() }} {{ 'hELLO'.capitalize() }} {{ 'Ab'.upper() }}{{ 'Ab'.lower() }} {{ 'Ab'.swapcase() }}", {}),
    ("string_search", "{{ 'hello'.find('l') }} {{ 'hello'.find('z') }} {{ 'hello'.rfind('l') }} {{ 'hello'.count('l') }} {{ 'hello'.index('e') }} {{ 'äbc'.find('c') }}", {}),
    ("string_join_format", "{{ ', '.join(['a', 'b']) }} {{ '{} and {}'.format('x', 'y') }} {{ '{1}{0}'.format('a', 'b') }} {{ 'Hi {name}'.format(name='Z') }} {{ '%s|%5.2f|%03d|%x' % ('s', 3.14159, 7, 255) }} {{ '%s!' % 'one' }}", {}),
    ("string_misc_methods", "{{ '7'.zfill(3) }} {{ 'a'.ljust(3, '.') }}|{{ 'a'.rjust(3) }} {{ 'k=v=w'.partition('=') }} {{ 'prefix_x'.removeprefix('prefix_') }}", {}),
    ("dict_methods", "{{ d.keys() | list }} {{ d.values() | list }} {{ d.items() | list }} {{ d.get('a') }} {{ d.get('z') }} {{ d.get('z', 0) }}", {"d": {"a": 1, "b": 2}}),
    ("list_methods", "{{ [1, 2, 2].count(2) }} {{ ['a', 'b'].index('b') }}", {}),
    # --- globals ---
    ("range_global", "{{ range(3) | list }} {{ range(1, 4) | list }} {{ range(10, 0, -3) | list }}", {}),
    ("dict_global", "{{ dict(a=1, b='x') }} {{ dict({'c': 3}, d=4) }}", {}),
    ("strftime_now_pinned", "{{ strftime_now('%d %b %Y') }} {{ strftime_now('%Y-%m-%d %A %B') }}", {}),
    ("cycler_joiner", "{% set c = cycler('a', 'b') %}{{ c.next() }}{{ c.next() }}{{ c.next() }} {% set j = joiner('|') %}{% for x in [1, 2, 3] %}{{ j() }}{{ x }}{% endfor %}", {}),
    ("raise_exception_message", "{% if messages | length == 0 %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}", {}),
    ("raise_exception_from_macro", "{% macro check(x) %}{% if x > 1 %}{{ raise_exception('x is ' ~ x) }}{% endif %}{% endmacro %}{{ check(1) }}{{ check(2) }}", {}),
    # --- constructs real templates combine ---
    ("accumulate_list_in_namespace", "{% set ns = namespace(seen=[]) %}{% for m in messages %}{% if m.role not in ns.seen %}{% set ns.seen = ns.seen + [m.role] %}{% endif %}{% endfor %}{{ ns.seen }} {{ 'tool' not in ns.seen }}", {"messages": MESSAGES + [{"role": "user", "content": "again"}]}),
    ("accumulate_list_by_reassignment", "{% set kept = [] %}{% for m in messages %}{% if not m.get('tool_calls') %}{% set kept = kept + [m.role] %}{% endif %}{% endfor %}{{ kept }}", {"messages": MESSAGES}),
    ("slice_from_loop_index_with_break", "{% for m in messages %}{% if loop.first %}{% for n in messages[loop.index0 + 1:] %}{% if n.role == 'assistant' %}{% break %}{% endif %}{{ n.role }};{% endfor %}{% endif %}{% endfor %}", {"messages": MESSAGES}),
    ("macro_calls_macro_with_namespace", "{% macro count_calls(messages) %}{% set c = namespace(n=0) %}{% for m in messages %}{% for t in m.tool_calls or [] %}{% set c.n = c.n + 1 %}{% endfor %}{% endfor %}{{ c.n }}{% endmacro %}{% macro report(messages) -%}\n  calls: {{ count_calls(messages) }}\n{%- endmacro %}[{{ report(messages) }}]", {"messages": MESSAGES}),
    ("multimodal_content_parts", "{% for m in messages %}{% if m.content is string %}{{ m.content }}{% else %}{% for part in m.content %}{% if part.type == 'text' %}{{ part.text }}{% elif 'image_url' in part %}<image>{% endif %}{% endfor %}{% endif %}|{% endfor %}", {"messages": [{"role": "user", "content": [{"type": "text", "text": "See "}, {"type": "image_url", "image_url": {"url": "u"}}]}, {"role": "assistant", "content": "ok"}]}),
    ("string_line_continuation", "{% set s = \"one \\\ntwo\" %}{{ s }}", {}),
    ("or_default_dict_items", "{% for call in calls %}{% set args = call.arguments or {} %}{% for k, v in args.items() %}<{{ k }}={{ v | tojson(ensure_ascii=False) if v is not string else v }}>{% endfor %};{% endfor %}", {"calls": [{"arguments": {"city": "Zürich", "n": [1, 2]}}, {"arguments": None}]}),
    ("tool_call_arguments_string_or_object", "{% for c in calls %}{% if c.arguments is string %}{{ c.arguments }}{% else %}{{ c.arguments | tojson }}{% endif %}\n{% endfor %}", {"calls": [{"arguments": "{\"a\": 1}"}, {"arguments": {"a": 1}}]}),
    ("whitespace_control_in_macros", "{%- macro m(x) -%}\n    <{{ x }}>\n{%- endmacro -%}\n{{ m(1) }}\n{{- m(2) }}\n", {}),
    ("message_equality", "{% set last = messages | selectattr('role', 'equalto', 'user') | list %}{% for m in messages %}{{ m == last[-1] }}{% endfor %}", {"messages": MESSAGES + [{"role": "user", "content": "again"}]}),
    # --- runtime errors (message differs from Jinja2's; only that it fails) ---
    ("error_attribute_of_undefined", "{{ nothing.attr }}", {}),
    ("error_add_undefined", "{{ 'a' + nothing }}", {}),
    ("error_add_str_int", "{{ 'a' + 1 }}", {}),
    ("error_division_by_zero", "{{ 1 / 0 }}", {}),
    ("error_list_append_sandboxed", "{% set l = [] %}{{ l.append(1) }}", {}),
    ("error_call_non_callable", "{{ 'abc'() }}", {}),
    ("error_namespace_assignment_on_dict", "{% set d = {} %}{% set d.x = 1 %}", {}),
    ("error_tojson_undefined", "{{ nothing | tojson }}", {}),
]


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather — in °C",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "City name"}, "days": {"type": "integer"}},
            "required": ["city"],
        },
    },
}
TOOL_CALL = {"id": "call12345", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}}

# Conversations for the real templates in ../shared/templates beyond conversations.json: tools,
# tool calls and results, reasoning, thinking switches, and the templates' own error paths.
SCENARIOS = [
    ("tools", {"messages": [{"role": "system", "content": "Use tools."}, {"role": "user", "content": "Weather in Paris?"}], "tools": [WEATHER_TOOL]}),
    ("tools_no_system", {"messages": [{"role": "user", "content": "Weather in Paris?"}], "tools": [WEATHER_TOOL]}),
    ("tool_round_trip", {"messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [TOOL_CALL]},
        {"role": "tool", "tool_call_id": "call12345", "content": "{\"temp\": 20}"},
        {"role": "assistant", "content": "It is 20 degrees."},
        {"role": "user", "content": "Thanks"}], "tools": [WEATHER_TOOL]}),
    ("two_tool_calls", {"messages": [
        {"role": "user", "content": "Paris and Rome?"},
        {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL, {"id": "call67890", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Rome\"}"}}]}]}),
    ("reasoning_history", {"messages": [
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "<think>\nAdd them.\n</think>\n\n4"},
        {"role": "user", "content": "3+3?"}]}),
    ("thinking_disabled", {"messages": [{"role": "user", "content": "Hi /no_think"}], "enable_thinking": False}),
    ("no_generation_prompt", {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}], "add_generation_prompt": False}),
    ("roles_not_alternating", {"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]}),
    ("unknown_role", {"messages": [{"role": "user", "content": "a"}, {"role": "narrator", "content": "b"}]}),
    ("custom_date", {"messages": [{"role": "user", "content": "Hi"}], "date_string": "01 Jan 2025"}),
]


def render_scenarios():
    spec = json.load(open(os.path.join(SHARED, "templates", "conversations.json")))
    out = []
    env = environment()
    for template_name, info in spec["templates"].items():
        source = open(os.path.join(SHARED, "templates", template_name + ".jinja")).read()
        compiled = env.from_string(source)
        for scenario, variables in SCENARIOS:
            variables = dict(variables)
            context = {"messages": variables.pop("messages"), "tools": variables.pop("tools", None), "documents": None,
                       "add_generation_prompt": variables.pop("add_generation_prompt", True),
                       "bos_token": info["bos_token"], "eos_token": info["eos_token"], **variables}
            case = {"name": f"{template_name}.{scenario}", "template_file": f"templates/{template_name}.jinja",
                    "messages": context["messages"], "tools": context["tools"],
                    "add_generation_prompt": context["add_generation_prompt"],
                    "bos_token": info["bos_token"], "eos_token": info["eos_token"], "vars": variables}
            try:
                case["expected"] = compiled.render(**context)
            except Raised as e:
                case["error"] = True
                case["message"] = str(e)
            except Exception as e:  # noqa: BLE001
                case["error"] = True
                case["jinja2_error"] = f"{type(e).__name__}: {e}"
            out.append(case)
    return out


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--scenarios":
        json.dump(render_scenarios(), sys.stdout, ensure_ascii=False, indent=1)
        sys.stdout.write("\n")
        return
    env = environment()
    out = []
    for name, source, variables in CASES:
        case = {"name": name, "template": source, "vars": variables}
        try:
            case["expected"] = env.from_string(source).render(**variables)
        except Raised as e:
            case["error"] = True
            case["message"] = str(e)
        except Exception as e:  # noqa: BLE001 - any Jinja2 failure makes an error case
            case["error"] = True
            case["jinja2_error"] = f"{type(e).__name__}: {e}"
        out.append(case)
    json.dump(out, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
