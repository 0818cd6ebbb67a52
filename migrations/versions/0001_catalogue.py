"""The catalogue: institutions, products, API keys and the append-only audit log.

Revision ID: 0001
Revises: 
Create Date: 2026-11-21 21:13:32.572466
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


APPEND_ONLY = {
    "sqlite": [
        """CREATE TRIGGER audit_entries_no_update BEFORE UPDATE ON audit_entries
           BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
        """CREATE TRIGGER audit_entries_no_delete BEFORE DELETE ON audit_entries
           BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
    ],
    "postgresql": [
        """CREATE FUNCTION audit_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$""",
        """CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON audit_entries
           FOR EACH ROW EXECUTE FUNCTION audit_entries_append_only()""",
    ],
}
DROP_APPEND_ONLY = {
    "sqlite": ["DROP TRIGGER audit_entries_no_update", "DROP TRIGGER audit_entries_no_delete"],
    "postgresql": ["DROP TRIGGER audit_entries_append_only ON audit_entries",
                   "DROP FUNCTION audit_entries_append_only()"],
}


def upgrade() -> None:
    op.create_table('audit_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('actor_role', sa.String(length=20), nullable=True),
    sa.Column('action', sa.String(length=30), nullable=False),
    sa.Column('object_type', sa.String(length=30), nullable=False),
    sa.Column('object_id', sa.String(length=40), nullable=False),
    sa.Column('before', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('after', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_entries'))
    )
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_entries_at'), ['at'], unique=False)
        batch_op.create_index('ix_audit_entries_object', ['object_type', 'object_id', 'id'], unique=False)

    op.create_table('institutions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.Enum('bank', 'consumer_finance', 'microlender', 'trust', 'other', name='institutionkind', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('status', sa.Enum('active', 'paused', name='institutionstatus', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('licensed_regions', sa.JSON(), nullable=False),
    sa.Column('decision_sla_seconds', sa.Integer(), nullable=False),
    sa.Column('daily_application_cap', sa.Integer(), nullable=True),
    sa.Column('daily_funding_budget', sa.BigInteger(), nullable=True),
    sa.Column('webhook_url', sa.String(length=500), nullable=True),
    sa.Column('webhook_secret', sa.String(length=256), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('daily_application_cap >= 0', name=op.f('ck_institutions_application_cap_nonnegative')),
    sa.CheckConstraint('daily_funding_budget >= 0', name=op.f('ck_institutions_funding_budget_nonnegative')),
    sa.CheckConstraint('decision_sla_seconds > 0', name=op.f('ck_institutions_sla_positive')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_institutions')),
    sa.UniqueConstraint('name', name=op.f('uq_institutions_name'))
    )
    op.create_table('api_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('role', sa.Enum('ops', 'borrower_app', 'institution', name='role', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=True),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("(role = 'institution') = (institution_id IS NOT NULL)", name=op.f('ck_api_keys_institution_keys_bound')),
    sa.ForeignKeyConstraint(['institution_id'], ['institutions.id'], name=op.f('fk_api_keys_institution_id_institutions'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('prefix', name=op.f('uq_api_keys_prefix'))
    )
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_keys_institution_id'), ['institution_id'], unique=False)

    op.create_table('products',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('type', sa.Enum('cash_loan', 'instalment', 'revolving_line', 'goods_instalment', name='producttype', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('amount_min', sa.BigInteger(), nullable=False),
    sa.Column('amount_max', sa.BigInteger(), nullable=False),
    sa.Column('term_min', sa.Integer(), nullable=False),
    sa.Column('term_max', sa.Integer(), nullable=False),
    sa.Column('term_unit', sa.Enum('day', 'month', name='termunit', native_enum=False, create_constraint=True, length=10), nullable=False),
    sa.Column('apr_min', sa.Float(), nullable=False),
    sa.Column('apr_max', sa.Float(), nullable=False),
    sa.Column('age_min', sa.Integer(), nullable=False),
    sa.Column('age_max', sa.Integer(), nullable=False),
    sa.Column('income_min', sa.Integer(), nullable=False),
    sa.Column('score_min', sa.Integer(), nullable=True),
    sa.Column('accepts_no_score', sa.Boolean(), nullable=False),
    sa.Column('dti_max', sa.Float(), nullable=True),
    sa.Column('regions', sa.JSON(), nullable=False),
    sa.Column('regions_excluded', sa.JSON(), nullable=False),
    sa.Column('employment', sa.JSON(), nullable=False),
    sa.Column('channels', sa.JSON(), nullable=False),
    sa.Column('borrowers', sa.Enum('first_time', 'repeat', 'any', name='borrowers', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('daily_application_cap', sa.Integer(), nullable=True),
    sa.Column('daily_funding_cap', sa.BigInteger(), nullable=True),
    sa.Column('weight', sa.Float(), nullable=False),
    sa.Column('status', sa.Enum('active', 'paused', 'retired', name='productstatus', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('age_min <= age_max', name=op.f('ck_products_age_range')),
    sa.CheckConstraint('amount_min > 0 AND amount_min <= amount_max', name=op.f('ck_products_amount_range')),
    sa.CheckConstraint('apr_min >= 0 AND apr_min <= apr_max', name=op.f('ck_products_apr_range')),
    sa.CheckConstraint('daily_application_cap >= 0', name=op.f('ck_products_application_cap_nonnegative')),
    sa.CheckConstraint('daily_funding_cap >= 0', name=op.f('ck_products_funding_cap_nonnegative')),
    sa.CheckConstraint('term_min > 0 AND term_min <= term_max', name=op.f('ck_products_term_range')),
    sa.CheckConstraint('weight >= 0', name=op.f('ck_products_weight_nonnegative')),
    sa.ForeignKeyConstraint(['institution_id'], ['institutions.id'], name=op.f('fk_products_institution_id_institutions'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_products')),
    sa.UniqueConstraint('institution_id', 'name', name=op.f('uq_products_institution_id_name'))
    )
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_products_institution_id'), ['institution_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_products_status'), ['status'], unique=False)

    for statement in APPEND_ONLY.get(op.get_bind().dialect.name, []):
        op.execute(statement)


def downgrade() -> None:
    for statement in DROP_APPEND_ONLY.get(op.get_bind().dialect.name, []):
        op.execute(statement)
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_products_status'))
        batch_op.drop_index(batch_op.f('ix_products_institution_id'))

    op.drop_table('products')
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_keys_institution_id'))

    op.drop_table('api_keys')
    op.drop_table('institutions')
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_entries_object')
        batch_op.drop_index(batch_op.f('ix_audit_entries_at'))

    op.drop_table('audit_entries')
