"""deferred released cells: recipes, digests, size bounds, nullable hashes

Revision ID: 0006
Revises: 0005
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('lab_released_recipes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['lab_projects.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('lab_released_recipes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lab_released_recipes_project_id'), ['project_id'], unique=False)

    with op.batch_alter_table('lab_released_cells', schema=None) as batch_op:
        batch_op.alter_column('hashes', existing_type=sa.LargeBinary(), nullable=True)
        batch_op.add_column(sa.Column('size_high', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('digest', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('recipe_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_lab_released_cells_recipe_id', 'lab_released_recipes', ['recipe_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('lab_released_cells', schema=None) as batch_op:
        batch_op.drop_constraint('fk_lab_released_cells_recipe_id', type_='foreignkey')
        batch_op.drop_column('recipe_id')
        batch_op.drop_column('digest')
        batch_op.drop_column('size_high')
        batch_op.alter_column('hashes', existing_type=sa.LargeBinary(), nullable=False)

    with op.batch_alter_table('lab_released_recipes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lab_released_recipes_project_id'))

    op.drop_table('lab_released_recipes')
