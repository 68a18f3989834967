"""The fenced-code-block protocol: code extraction and tool calls printed as text."""

from __future__ import annotations

import json

import pytest

from jupyterlab_codeinterp.agent.codeblocks import (
    CODEBLOCK_INSTRUCTIONS, extract_code, find_code_blocks, is_answer_block, looks_like_python, unfence_answers,
)
from jupyterlab_codeinterp.agent.textual_calls import parse_textual_tool_calls

TOOLS = {"run_code", "inspect_variable"}


# ---------------------------------------------------------------------------- extract_code


def test_single_block_with_chatter():
    text = ("Sure! Let's load the data first.\n\n```python\nimport pandas as pd\n"
            "df = pd.read_csv('sales.csv')\ndf.head()\n```\n\nThis shows the first rows.")
    assert extract_code(text) == ["import pandas as pd\ndf = pd.read_csv('sales.csv')\ndf.head()"]


@pytest.mark.parametrize("lang", ["python", "py", "ipython", "Python", "python3", "{.python}",
                                  "python title=analysis.py"])
def test_python_info_strings(lang):
    assert extract_code(f"```{lang}\nx = 1\n```") == ["x = 1"]


def test_unclosed_final_fence_taken_to_the_end():
    text = "I'll compute the mean.\n```python\nimport numpy as np\nprint(np.mean([1, 2, 3]))\n"
    assert extract_code(text) == ["import numpy as np\nprint(np.mean([1, 2, 3]))"]


def test_unclosed_fence_without_trailing_newline():
    assert extract_code("```python\nprint('hi')") == ["print('hi')"]


def test_unclosed_block_followed_by_new_opener():
    text = "```python\na = 1\n```python\nb = 2\n```\n"
    assert extract_code(text) == ["a = 1", "b = 2"]


def test_closing_fence_glued_to_code():
    assert extract_code("```python\nprint(df.shape)```\nDone.") == ["print(df.shape)"]


def test_tilde_and_long_fences():
    assert extract_code("~~~python\nx = 1\n~~~") == ["x = 1"]
    text = "````python\ns = '''\n```\n'''\nprint(s)\n````"
    assert extract_code(text) == ["s = '''\n```\n'''\nprint(s)"]


def test_indented_fence_under_list_item():
    text = ("1. Load the file:\n\n   ```python\n   import pandas as pd\n   for c in 'ab':\n"
            "       print(c)\n   ```\n2. Done.")
    assert extract_code(text) == ["import pandas as pd\nfor c in 'ab':\n    print(c)"]


def test_opener_after_chatter_on_same_line():
    assert extract_code("Here you go: ```python\nprint(1)\n```") == ["print(1)"]


def test_several_blocks_in_order():
    text = "```python\na = 1\n```\ntext\n```py\nb = a + 1\n```"
    assert extract_code(text) == ["a = 1", "b = a + 1"]


def test_crlf_line_endings():
    assert extract_code("```python\r\nx = 1\r\ny = 2\r\n```\r\n") == ["x = 1\ny = 2"]


@pytest.mark.parametrize("lang", ["text", "output", "bash", "sh", "shell", "console", "json",
                                  "csv", "markdown", "sql", "plaintext"])
def test_non_python_blocks_ignored(lang):
    text = f"Output:\n```{lang}\nx = 1\npip install pandas\n```\n"
    assert extract_code(text) == []


def test_bare_fence_taken_when_it_is_python():
    text = "Run this:\n```\nimport pandas as pd\ndf = pd.DataFrame({'a': [1]})\n```"
    assert extract_code(text) == ["import pandas as pd\ndf = pd.DataFrame({'a': [1]})"]
    assert extract_code("```\ndf.describe()\n```") == ["df.describe()"]
    assert extract_code("```\ndf.head(10)\n```") == ["df.head(10)"]
    assert extract_code("```\nprint(7)\n```") == ["print(7)"]


@pytest.mark.parametrize("body", [
    "   price  qty\n0    1.5    3\n1    2.5    4",      # a printed DataFrame
    "KeyError: 'prices'",                                 # an error line
    "7.0",
    "ls -la",                                             # shell, parses as a subtraction
    "The total is 7.0 dollars.",
    '{"a": 1, "b": [1, 2]}',
    "array([1, 2, 3])",                                   # reprs of printed values
    "np.float64(7.0)",
    "Index(['price', 'qty'], dtype='object')",
    "Timestamp('2024-01-01 00:00:00')",
])
def test_bare_fence_not_taken_when_it_is_output(body):
    assert extract_code(f"The output:\n```\n{body}\n```") == []


def test_magics_and_shell_escapes_inside_python_block():
    text = "```python\n!pip install seaborn\n%matplotlib inline\nimport seaborn as sns\n```"
    assert extract_code(text) == ["!pip install seaborn\n%matplotlib inline\nimport seaborn as sns"]
    assert looks_like_python("!pip install seaborn")


def test_pycon_prompts_stripped_and_output_dropped():
    text = "```pycon\n>>> x = [1, 2]\n>>> for v in x:\n...     print(v)\n1\n2\n```"
    assert extract_code(text) == ["x = [1, 2]\nfor v in x:\n    print(v)"]


def test_one_line_block():
    # inline triple-backtick code in prose is not a block, and swallows nothing after it
    assert extract_code("Use ```x``` then\n```python\ny = 1\n```") == ["y = 1"]
    assert extract_code("```python print(2)```") == ["print(2)"]


def test_no_code_means_final_answer():
    assert extract_code("The total price is 7.0. The `price` column sums to that.") == []
    assert extract_code("") == []


def test_empty_block_ignored():
    assert extract_code("```python\n```\n") == []


def test_find_code_blocks_reports_languages_and_closure():
    blocks = find_code_blocks("```bash\nls\n```\n```python\nx = 1\n")
    assert [(b.lang, b.closed) for b in blocks] == [("bash", True), ("python", False)]
    assert [b.is_python for b in blocks] == [False, True]


def test_instructions_mention_the_rules():
    text = CODEBLOCK_INSTRUCTIONS
    assert "```python" in text and "next user message" in text
    assert "WITHOUT any code block" in text and "!command" in text
    # the example in the instructions is itself extractable Python
    assert extract_code(text) == ['import pandas as pd\ndf = pd.read_csv("data.csv")\ndf.head()']


# ---------------------------------------------------------------------------- textual tool calls


def one(text: str) -> tuple[str, dict]:
    calls = parse_textual_tool_calls(text, TOOLS)
    assert len(calls) == 1, calls
    return calls[0].name, json.loads(calls[0].arguments)


def test_bare_json_call_in_text():
    text = 'I will run it.\n{"name": "run_code", "arguments": {"code": "print(1)"}}\n'
    assert one(text) == ("run_code", {"code": "print(1)"})


def test_json_block_call_qwen_style():
    text = ('To find the total, I will sum the column.\n```json\n{\n  "name": "run_code",\n'
            '  "arguments": {\n    "code": "import pandas as pd\\ndf = pd.read_csv(\'s.csv\')\\n'
            'print(df[\'price\'].sum())"\n  }\n}\n```')
    name, args = one(text)
    assert name == "run_code" and args["code"].startswith("import pandas as pd\ndf =")


def test_tool_call_tags():
    text = ('<tool_call>\n{"name": "run_code", "arguments": {"code": "x = 2"}}\n</tool_call>\n'
            '<tool_call>\n{"name": "inspect_variable", "arguments": {"name": "x"}}\n</tool_call>')
    calls = parse_textual_tool_calls(text, TOOLS)
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [
        ("run_code", {"code": "x = 2"}), ("inspect_variable", {"name": "x"})]
    assert len({c.id for c in calls}) == 2


def test_unclosed_tool_call_tag():
    assert one('<tool_call>{"name": "run_code", "arguments": {"code": "1"}}') == (
        "run_code", {"code": "1"})


def test_arguments_as_json_string():
    text = '{"name": "run_code", "arguments": "{\\"code\\": \\"print(3)\\"}"}'
    calls = parse_textual_tool_calls(text, TOOLS)
    assert calls[0].arguments == '{"code": "print(3)"}'
    assert json.loads(calls[0].arguments) == {"code": "print(3)"}


@pytest.mark.parametrize("text", [
    '{"name": "run_code", "parameters": {"code": "a = 1"}}',                  # Llama 3
    '{"type": "function", "function": {"name": "run_code", "arguments": {"code": "a = 1"}}}',
    '{"tool_calls": [{"function": {"name": "run_code", "arguments": {"code": "a = 1"}}}]}',
    '[TOOL_CALLS] [{"name": "run_code", "arguments": {"code": "a = 1"}}]',   # Mistral
    '<function=run_code>{"code": "a = 1"}</function>',                        # Llama 3.1
    "{'name': 'run_code', 'arguments': {'code': 'a = 1'}}",                    # Python dict
    '```tool_call\n{"name": "run_code", "arguments": {"code": "a = 1"}}\n```',
    '```\n{"name": "run_code", "arguments": {"code": "a = 1"}}\n```',
    '<tool_call>\n```json\n{"name": "run_code", "arguments": {"code": "a = 1"}}\n```\n</tool_call>',
])
def test_call_shapes(text):
    assert one(text) == ("run_code", {"code": "a = 1"})


def test_raw_newlines_inside_json_strings():
    text = '{"name": "run_code", "arguments": {"code": "import os\nprint(os.getcwd())"}}'
    assert one(text) == ("run_code", {"code": "import os\nprint(os.getcwd())"})


def test_unknown_tool_names_and_plain_json_ignored():
    assert parse_textual_tool_calls('{"name": "rm_rf", "arguments": {}}', TOOLS) == []
    assert parse_textual_tool_calls('The result is {"total": 7.0}.', TOOLS) == []
    assert parse_textual_tool_calls("no calls here", TOOLS) == []
    assert parse_textual_tool_calls('{"name": "run_code", "arguments": {}}', set()) == []


def test_json_inside_python_block_is_code_not_a_call():
    text = '```python\ncall = {"name": "run_code", "arguments": {"code": "x"}}\nprint(call)\n```'
    assert parse_textual_tool_calls(text, TOOLS) == []


def test_same_call_printed_twice_is_returned_once():
    call = '{"name": "run_code", "arguments": {"code": "print(1)"}}'
    text = f"<tool_call>{call}</tool_call>\nAgain:\n```json\n{call}\n```"
    assert len(parse_textual_tool_calls(text, TOOLS)) == 1


def test_malformed_call_json_is_not_invented():
    assert parse_textual_tool_calls('{"name": "run_code", "arguments": {"code": "x', TOOLS) == []


# Seen from Qwen2.5-Coder-1.5B on llama.cpp: a Python triple-quoted string inside the "JSON"
# call, with escapes meant verbatim, and once the closing braces and fence missing.
QWEN_TRIPLE = '''```json
{
  "name": "run_code",
  "arguments": {
    "code": """
import pandas as pd
print("Totals:")
print("\\nGrowth in %:")
"""
  }
}
```'''


def test_triple_quoted_code_is_taken_verbatim():
    calls = parse_textual_tool_calls(QWEN_TRIPLE, {"run_code"})
    assert len(calls) == 1
    code = json.loads(calls[0].arguments)["code"]
    compile(code, "cell", "exec")
    assert 'print("\\nGrowth in %:")' in code
    assert code.startswith("import pandas as pd")


def test_triple_quoted_call_without_closing_braces():
    unclosed = QWEN_TRIPLE.rsplit("}", 2)[0].rstrip() + "\n"
    calls = parse_textual_tool_calls(unclosed.replace("```json", "").strip(), {"run_code"})
    assert len(calls) == 1
    compile(json.loads(calls[0].arguments)["code"], "cell", "exec")


def test_through_last_block_drops_what_was_written_before_the_code_ran():
    from jupyterlab_codeinterp.agent.codeblocks import through_last_block

    reply = "Computing it:\n```python\nprint(6 * 7)\n```\n\nThe answer is @x[41]."
    assert through_last_block(reply) == "Computing it:\n```python\nprint(6 * 7)\n```"
    assert through_last_block("No code here: @x[41].") == "No code here: @x[41]."
    two = "```python\na = 1\n```\nthen\n```python\nprint(a)\n```\nso 1"
    assert through_last_block(two).endswith("print(a)\n```")


@pytest.mark.parametrize("block, answer", [
    ("@mean[171.44] @sd[188.25]", True), ("@a[1],\n@b[x y]", True),
    ("print('@mean[1]')", False), ("@property\ndef f(self): pass", False), ("", False),
])
def test_a_block_of_closed_form_results_is_an_answer_not_code(block, answer):
    text = f"The results:\n```python\n{block}\n```\nDone."
    assert is_answer_block(block) is answer
    assert (extract_code(text) == []) is (answer or not block)
    if answer:
        assert unfence_answers(text) == f"The results:\n{block}\nDone."
