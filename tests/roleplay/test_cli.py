import pytest
from typer.testing import CliRunner

from app.cli import cli


@pytest.mark.parametrize("end_word", ["end", "结束", "/end"])
def test_coach_roleplay_plays_a_turn_and_ends_on_the_end_word(settings, end_word):
    result = CliRunner().invoke(
        cli, ["roleplay", "price-objection", "--lang", "zh"],
        input=f"我理解您的顾虑。您主要是拿X的哪方面和我们比较？\n{end_word}\n",
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("客户：") == 2  # the opening line and one reply: the end word is not a turn
    assert "s4.standard.2" in result.output
    assert "得分：" in result.output and "做得好的：" in result.output
    assert "Customer" not in result.output and "Score" not in result.output


def test_coach_roleplay_in_english_labels_everything_in_english(settings):
    result = CliRunner().invoke(
        cli, ["roleplay", "price-objection", "--lang", "en"],
        input="I understand. Which part of X are you comparing us with?\nend\n",
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("Customer: ") == 2
    assert "Score: " in result.output and "Strengths:" in result.output and "Improvements:" in result.output
    assert "客户" not in result.output and "得分" not in result.output
