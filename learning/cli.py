"""``flask --app app calibration``: the approval model's calibration on held-out
decisions, per institution, and a reliability plot."""

import click
from flask.cli import with_appcontext

from core.cli import uses_database
from core.db import get_session
from learning import calibration


@click.command("calibration")
@click.option("--holdout", default=0.2, show_default=True, type=click.FloatRange(0.05, 0.9),
              help="the latest share of decisions held out for scoring")
@click.option("--png", default="calibration.png", show_default=True,
              help="where to write the reliability plot")
@with_appcontext
@uses_database
def calibration_command(holdout: float, png: str) -> None:
    """Train on the earlier decisions, score on the later ones: ECE, Brier, AUC and
    calibration slope, per institution and overall."""
    result = calibration.report(get_session(), holdout)
    if result["held_out"] == 0:
        click.echo("no decisions to score yet")
        raise SystemExit(1)
    click.echo(f"trained on {result['trained_on']} decisions, scored on "
               f"{result['held_out']} held out")
    header = (f"{'institution':>12} {'decisions':>9} {'approved':>8} {'predicted':>9} "
              f"{'ECE':>7} {'Brier':>7} {'AUC':>6} {'slope':>6}")
    click.echo(header)
    rows = [*result["institutions"].items(), ("all", result["overall"])]
    for name, m in rows:
        click.echo(f"{name:>12} {m.decisions:>9} {m.approval_rate:>8.3f} "
                   f"{m.mean_prediction:>9.3f} {m.ece:>7.4f} {m.brier:>7.4f} {m.auc:>6.3f} "
                   f"{m.slope:>6.2f}")
    calibration.reliability_plot(result["predictions"], result["outcomes"], png,
                                 f"approval model, {result['held_out']} held-out decisions")
    click.echo(f"reliability plot: {png}")
