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
    assert result.output.count("Customer:") == 2  # the opening line and one reply: the end word is not a turn
    assert "s4.standard.2" in result.output
    assert "Score:" in result.output
