"""Routing: applications, the routings chosen for them, decision traces, daily capacity
counters, and the catalogue version that tells workers to recompile.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 21:32:06.687890
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('catalogue_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('id = 1', name=op.f('ck_catalogue_version_single_row')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_catalogue_version'))
    )
    op.create_table('daily_usage',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('scope', sa.Enum('product', 'institution', name='usagescope', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('object_id', sa.Integer(), nullable=False),
    sa.Column('applications', sa.Integer(), nullable=False),
    sa.CheckConstraint('applications >= 0', name=op.f('ck_daily_usage_applications_nonnegative')),
    sa.PrimaryKeyConstraint('day', 'scope', 'object_id', name=op.f('pk_daily_usage'))
    )
    op.create_table('applications',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('api_key_id', sa.Integer(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=255), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('external_id', sa.String(length=100), nullable=False),
    sa.Column('applicant', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('term', sa.Integer(), nullable=False),
    sa.Column('term_unit', sa.Enum('day', 'month', name='termunit', native_enum=False, create_constraint=True, length=10), nullable=False),
    sa.Column('purpose', sa.Enum('consumption', 'education', 'medical', 'travel', 'home', 'business', 'debt_consolidation', 'other', name='purpose', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('channel', sa.Enum('app', 'ecommerce', 'travel', 'education', 'retail', 'social', 'partner', name='channel', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('consent_version', sa.String(length=40), nullable=False),
    sa.Column('consent_given_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.Enum('routed', 'no_match', name='applicationstatus', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('wave', sa.Integer(), nullable=False),
    sa.Column('catalogue_version', sa.BigInteger(), nullable=False),
    sa.Column('response', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount > 0', name=op.f('ck_applications_amount_positive')),
    sa.CheckConstraint('term > 0', name=op.f('ck_applications_term_positive')),
    sa.ForeignKeyConstraint(['api_key_id'], ['api_keys.id'], name=op.f('fk_applications_api_key_id_api_keys'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_applications')),
    sa.UniqueConstraint('api_key_id', 'idempotency_key', name=op.f('uq_applications_api_key_id_idempotency_key'))
    )
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.create_index('ix_applications_applicant', ['api_key_id', 'external_id', 'created_at'], unique=False)

    op.create_table('routing_traces',
    sa.Column('application_id', sa.String(length=26), nullable=False),
    sa.Column('wave', sa.Integer(), nullable=False),
    sa.Column('catalogue_version', sa.BigInteger(), nullable=False),
    sa.Column('body', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], name=op.f('fk_routing_traces_application_id_applications'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('application_id', 'wave', name=op.f('pk_routing_traces'))
    )
    op.create_table('routings',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('application_id', sa.String(length=26), nullable=False),
    sa.Column('wave', sa.Integer(), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('pending', name='routingstatus', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('approval_probability', sa.Float(), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('capacity_day', sa.Date(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('approval_probability >= 0 AND approval_probability <= 1', name=op.f('ck_routings_probability_range')),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], name=op.f('fk_routings_application_id_applications'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['institution_id'], ['institutions.id'], name=op.f('fk_routings_institution_id_institutions'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_routings_product_id_products'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_routings')),
    sa.UniqueConstraint('application_id', 'product_id', name=op.f('uq_routings_application_id_product_id'))
    )
    with op.batch_alter_table('routings', schema=None) as batch_op:
        batch_op.create_index('ix_routings_inbox', ['institution_id', 'status', 'id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('routings', schema=None) as batch_op:
        batch_op.drop_index('ix_routings_inbox')

    op.drop_table('routings')
    op.drop_table('routing_traces')
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.drop_index('ix_applications_applicant')

    op.drop_table('applications')
    op.drop_table('daily_usage')
    op.drop_table('catalogue_version')
