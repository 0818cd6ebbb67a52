"""Learning: model versions, product weight versions, capacity price solves, funnel
snapshots and job runs; routings keep their features, sampled probability and
propensity; routings, offers and loans remember which model version learned from them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 23:10:00
"""

from alembic import op
import sqlalchemy as sa

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "learned_models",
        sa.Column("id", SERIAL, nullable=False),
        sa.Column("kind", sa.Enum("approval", "takeup", "repayment", name="modelkind",
                                  native_enum=False, create_constraint=True, length=20),
                  nullable=False),
        sa.Column("created_at", DATETIME, nullable=False),
        sa.Column("batch_rows", sa.Integer(), nullable=False),
        sa.Column("total_rows", sa.Integer(), nullable=False),
        sa.Column("params", sa.LargeBinary(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_learned_models")),
    )
    op.create_index("ix_learned_models_kind", "learned_models", ["kind", "id"])
    op.create_table(
        "product_weight_versions",
        sa.Column("id", SERIAL, nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("is_current", sa.Boolean(), nullable=False),
        sa.Column("ops_weight", sa.Float(), nullable=False),
        sa.Column("locked", sa.Boolean(), nullable=False),
        sa.Column("approval_ratio", sa.Float(), nullable=False),
        sa.Column("takeup_ratio", sa.Float(), nullable=False),
        sa.Column("repayment_ratio", sa.Float(), nullable=False),
        sa.Column("multiplier", sa.Float(), nullable=False),
        sa.Column("effective_weight", sa.Float(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("created_at", DATETIME, nullable=False),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"], ondelete="RESTRICT",
                                name=op.f("fk_product_weight_versions_product_id_products")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_weight_versions")),
        sa.UniqueConstraint("product_id", "version",
                            name=op.f("uq_product_weight_versions_product_id_version")),
    )
    op.create_index("uq_product_weight_versions_current", "product_weight_versions",
                    ["product_id"], unique=True, postgresql_where=sa.text("is_current"),
                    sqlite_where=sa.text("is_current"))
    op.create_table(
        "capacity_price_solves",
        sa.Column("id", SERIAL, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("solved_at", DATETIME, nullable=False),
        sa.Column("prices", sa.LargeBinary(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_capacity_price_solves")),
    )
    op.create_index(op.f("ix_capacity_price_solves_day"), "capacity_price_solves", ["day"])
    op.create_table(
        "funnel_snapshots",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("taken_at", DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("day", "institution_id", name=op.f("pk_funnel_snapshots")),
    )
    op.create_table(
        "job_runs",
        sa.Column("id", SERIAL, nullable=False),
        sa.Column("job", sa.String(40), nullable=False),
        sa.Column("slot", sa.String(60), nullable=False),
        sa.Column("status", sa.Enum("running", "done", "failed", name="runstatus",
                                    native_enum=False, create_constraint=True, length=20),
                  nullable=False),
        sa.Column("runner", sa.String(100), nullable=False),
        sa.Column("started_at", DATETIME, nullable=False),
        sa.Column("finished_at", DATETIME, nullable=True),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_runs")),
        sa.UniqueConstraint("job", "slot", name=op.f("uq_job_runs_job_slot")),
    )
    op.create_index("ix_job_runs_job", "job_runs", ["job", "id"])
    with op.batch_alter_table("routings") as batch:
        batch.add_column(sa.Column("features", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("sampled_probability", sa.Float(), nullable=True))
        batch.add_column(sa.Column("propensity", sa.Float(), nullable=True))
        batch.add_column(sa.Column("learned_in", sa.BigInteger(), nullable=True))
    op.create_index("ix_routings_to_learn", "routings", ["status"],
                    postgresql_where=sa.text("learned_in IS NULL"),
                    sqlite_where=sa.text("learned_in IS NULL"))
    for table in ("offers", "loans"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("learned_in", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    for table in ("offers", "loans"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("learned_in")
    op.drop_index("ix_routings_to_learn", "routings")
    with op.batch_alter_table("routings") as batch:
        for column in ("learned_in", "propensity", "sampled_probability", "features"):
            batch.drop_column(column)
    op.drop_index("ix_job_runs_job", "job_runs")
    op.drop_table("job_runs")
    op.drop_table("funnel_snapshots")
    op.drop_index(op.f("ix_capacity_price_solves_day"), "capacity_price_solves")
    op.drop_table("capacity_price_solves")
    op.drop_index("uq_product_weight_versions_current", "product_weight_versions")
    op.drop_table("product_weight_versions")
    op.drop_index("ix_learned_models_kind", "learned_models")
    op.drop_table("learned_models")
