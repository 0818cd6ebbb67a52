"""The institution side: decisions on routings (SLA deadline, delivery), offers, loans,
the append-only event log, webhook deliveries and their attempts, and the secret behind
per-institution applicant refs.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 22:13:20.267274
"""

import json
import zlib

from alembic import op
import sqlalchemy as sa

APPEND_ONLY = {
    "sqlite": [
        """CREATE TRIGGER events_no_update BEFORE UPDATE ON events
           BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END""",
        """CREATE TRIGGER events_no_delete BEFORE DELETE ON events
           BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END""",
    ],
    "postgresql": [
        """CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN RAISE EXCEPTION 'the event log is append-only'; END $$""",
        """CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
           FOR EACH ROW EXECUTE FUNCTION events_append_only()""",
    ],
}
DROP_APPEND_ONLY = {
    "sqlite": ["DROP TRIGGER events_no_update", "DROP TRIGGER events_no_delete"],
    "postgresql": ["DROP TRIGGER events_append_only ON events",
                   "DROP FUNCTION events_append_only()"],
}
APPLICATION_STATUSES = ('routed', 'offered', 'accepted', 'funded', 'no_match', 'expired')
ROUTING_STATUSES = ('pending', 'approved', 'declined', 'expired', 'withdrawn')
# Routings made before this revision get the deadline their institution's SLA gives them.
DECIDE_BY = {
    "sqlite": """UPDATE routings SET decide_by = (
        SELECT strftime('%Y-%m-%d %H:%M:%f', routings.created_at,
                        '+' || i.decision_sla_seconds || ' seconds')
        FROM institutions i WHERE i.id = routings.institution_id)""",
    "postgresql": """UPDATE routings SET decide_by = routings.created_at
        + make_interval(secs => i.decision_sla_seconds)
        FROM institutions i WHERE i.id = routings.institution_id""",
}


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('type', sa.Enum('routed', 'delivered', 'approved', 'declined', 'routing_expired', 'routing_withdrawn', 'offer_accepted', 'offer_withdrawn', 'offer_expired', 'no_match', 'application_expired', 'funded', 'instalment_due', 'instalment_paid', 'past_due', 'paid_off', 'charged_off', name='eventtype', native_enum=False, create_constraint=True, length=30), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('application_id', sa.String(length=26), nullable=True),
    sa.Column('routing_id', sa.String(length=26), nullable=True),
    sa.Column('offer_id', sa.String(length=26), nullable=True),
    sa.Column('loan_id', sa.String(length=26), nullable=True),
    sa.Column('institution_id', sa.Integer(), nullable=True),
    sa.Column('product_id', sa.Integer(), nullable=True),
    sa.Column('wave', sa.Integer(), nullable=True),
    sa.Column('data', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_events'))
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_application', ['application_id', 'id'], unique=False)
        batch_op.create_index('ix_events_loan', ['loan_id', 'id'], unique=False)
        batch_op.create_index('ix_events_type', ['type', 'id'], unique=False)
    for statement in APPEND_ONLY[op.get_bind().dialect.name]:
        op.execute(statement)

    op.create_table('instance_secrets',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('value', sa.String(length=128), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_instance_secrets'))
    )
    op.create_table('webhook_deliveries',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('event_type', sa.String(length=40), nullable=False),
    sa.Column('object_id', sa.String(length=26), nullable=False),
    sa.Column('status', sa.Enum('pending', 'delivered', 'failed', name='deliverystatus', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_status_code', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('payload', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['institution_id'], ['institutions.id'], name=op.f('fk_webhook_deliveries_institution_id_institutions'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_deliveries'))
    )
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_deliveries_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index('ix_webhook_deliveries_institution', ['institution_id', 'id'], unique=False)

    op.create_table('webhook_attempts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('delivery_id', sa.String(length=26), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('error', sa.String(length=500), nullable=True),
    sa.Column('duration_ms', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['delivery_id'], ['webhook_deliveries.id'], name=op.f('fk_webhook_attempts_delivery_id_webhook_deliveries'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_attempts'))
    )
    with op.batch_alter_table('webhook_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_attempts_delivery_id'), ['delivery_id'], unique=False)

    op.create_table('offers',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('routing_id', sa.String(length=26), nullable=False),
    sa.Column('application_id', sa.String(length=26), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('apr', sa.Float(), nullable=False),
    sa.Column('term', sa.Integer(), nullable=False),
    sa.Column('term_unit', sa.Enum('day', 'month', name='termunit', native_enum=False, create_constraint=True, length=10), nullable=False),
    sa.Column('status', sa.Enum('open', 'accepted', 'withdrawn', 'expired', name='offerstatus', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('amount > 0', name=op.f('ck_offers_amount_positive')),
    sa.CheckConstraint('apr >= 0', name=op.f('ck_offers_apr_nonnegative')),
    sa.CheckConstraint('term > 0', name=op.f('ck_offers_term_positive')),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], name=op.f('fk_offers_application_id_applications'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['institution_id'], ['institutions.id'], name=op.f('fk_offers_institution_id_institutions'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_offers_product_id_products'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['routing_id'], ['routings.id'], name=op.f('fk_offers_routing_id_routings'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_offers')),
    sa.UniqueConstraint('routing_id', name=op.f('uq_offers_routing_id'))
    )
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_offers_application_id'), ['application_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_offers_institution_id'), ['institution_id'], unique=False)
        batch_op.create_index('uq_offers_one_accepted', ['application_id'], unique=True, sqlite_where=sa.text("status = 'accepted'"), postgresql_where=sa.text("status = 'accepted'"))

    op.create_table('loans',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('offer_id', sa.String(length=26), nullable=False),
    sa.Column('application_id', sa.String(length=26), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('apr', sa.Float(), nullable=False),
    sa.Column('term', sa.Integer(), nullable=False),
    sa.Column('term_unit', sa.Enum('day', 'month', name='termunit', native_enum=False, create_constraint=True, length=10), nullable=False),
    sa.Column('funded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.Enum('current', 'past_due', 'paid_off', 'charged_off', name='loanstatus', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('days_past_due', sa.Integer(), nullable=False),
    sa.Column('max_days_past_due', sa.Integer(), nullable=False),
    sa.Column('last_event_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount > 0', name=op.f('ck_loans_amount_positive')),
    sa.CheckConstraint('days_past_due >= 0', name=op.f('ck_loans_days_past_due_nonnegative')),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], name=op.f('fk_loans_application_id_applications'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['institution_id'], ['institutions.id'], name=op.f('fk_loans_institution_id_institutions'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['offer_id'], ['offers.id'], name=op.f('fk_loans_offer_id_offers'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_loans_product_id_products'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_loans')),
    sa.UniqueConstraint('application_id', name=op.f('uq_loans_application_id')),
    sa.UniqueConstraint('offer_id', name=op.f('uq_loans_offer_id'))
    )
    with op.batch_alter_table('loans', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_loans_institution_id'), ['institution_id'], unique=False)

    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('end_reason', sa.String(length=40), nullable=True))
    _allow_statuses('applications', 'applicationstatus', APPLICATION_STATUSES)
    _allow_statuses('routings', 'routingstatus', ROUTING_STATUSES)

    with op.batch_alter_table('routing_traces', schema=None) as batch_op:
        batch_op.add_column(sa.Column('routed', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('not_routed', sa.JSON(), nullable=True))
    _backfill_first_waves()
    _backfill_events()
    with op.batch_alter_table('routing_traces', schema=None) as batch_op:
        batch_op.alter_column('routed', existing_type=sa.JSON(), nullable=False)
        batch_op.alter_column('not_routed', existing_type=sa.JSON(), nullable=False)

    with op.batch_alter_table('routings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('decide_by', sa.DateTime(timezone=True), nullable=True))
    op.execute(DECIDE_BY[op.get_bind().dialect.name])
    with op.batch_alter_table('routings', schema=None) as batch_op:
        batch_op.alter_column('decide_by', existing_type=sa.DateTime(timezone=True),
                              nullable=False)
        batch_op.add_column(sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('decision_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('decline_reasons', sa.JSON(), nullable=True))
        batch_op.create_index('ix_routings_due', ['status', 'decide_by'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('routings', schema=None) as batch_op:
        batch_op.drop_index('ix_routings_due')
        batch_op.drop_column('decline_reasons')
        batch_op.drop_column('decision_hash')
        batch_op.drop_column('decided_at')
        batch_op.drop_column('delivered_at')
        batch_op.drop_column('decide_by')

    with op.batch_alter_table('routing_traces', schema=None) as batch_op:
        batch_op.drop_column('not_routed')
        batch_op.drop_column('routed')

    _allow_statuses('routings', 'routingstatus', ROUTING_STATUSES[:1])
    _allow_statuses('applications', 'applicationstatus', ('routed', 'no_match'))
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.drop_column('end_reason')

    with op.batch_alter_table('loans', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_loans_institution_id'))

    op.drop_table('loans')
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.drop_index('uq_offers_one_accepted', sqlite_where=sa.text("status = 'accepted'"), postgresql_where=sa.text("status = 'accepted'"))
        batch_op.drop_index(batch_op.f('ix_offers_institution_id'))
        batch_op.drop_index(batch_op.f('ix_offers_application_id'))

    op.drop_table('offers')
    with op.batch_alter_table('webhook_attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_attempts_delivery_id'))

    op.drop_table('webhook_attempts')
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_webhook_deliveries_institution')
        batch_op.drop_index('ix_webhook_deliveries_due')

    op.drop_table('webhook_deliveries')
    op.drop_table('instance_secrets')
    for statement in DROP_APPEND_ONLY[op.get_bind().dialect.name]:
        op.execute(statement)
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_type')
        batch_op.drop_index('ix_events_loan')
        batch_op.drop_index('ix_events_application')

    op.drop_table('events')


def _backfill_first_waves() -> None:
    """Applications routed before this revision keep what the borrower app was shown of
    their first wave in the application's stored response; copy it to the trace."""
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, response FROM applications")).all()
    for application_id, response in rows:
        shown = json.loads(zlib.decompress(response))
        bind.execute(
            sa.text("UPDATE routing_traces SET routed = :routed, not_routed = :not_routed "
                    "WHERE application_id = :id AND wave = 1"),
            {"routed": json.dumps([{**r, "wave": 1, "decline_reasons": None}
                                   for r in shown["routed"]]),
             "not_routed": json.dumps(shown["not_routed"]), "id": application_id})


def _allow_statuses(table: str, enum_name: str, values: tuple[str, ...]) -> None:
    """The status columns are checked strings: widen (or narrow) the check."""
    name = f'ck_{table}_{enum_name}'
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.drop_constraint(op.f(name), type_='check')
        batch_op.create_check_constraint(
            op.f(name), sa.column('status').in_(values))


def _backfill_events() -> None:
    """The event log starts with what already happened: every routing was routed, and an
    application that found nothing ended no_match."""
    reason = ("'{\"reason\": \"no_eligible_product\"}'"
              + ("::json" if op.get_bind().dialect.name == "postgresql" else ""))
    op.execute("""INSERT INTO events (type, at, recorded_at, application_id, routing_id,
                                      institution_id, product_id, wave)
                  SELECT 'routed', created_at, created_at, application_id, id, institution_id,
                         product_id, wave FROM routings""")
    op.execute(f"""INSERT INTO events (type, at, recorded_at, application_id, wave, data)
                   SELECT 'no_match', created_at, created_at, id, wave, {reason}
                   FROM applications WHERE status = 'no_match'""")
    op.execute("UPDATE applications SET end_reason = 'no_eligible_product' "
               "WHERE status = 'no_match'")
