from flask.views import MethodView

from core.api import ETAG_HEADER, Blueprint, etag, expected_version, principal, require, window
from core.db import get_session
from core.principal import Role
from lenders import service
from lenders.schemas import InstitutionFilters, InstitutionIn, InstitutionOut, InstitutionPatch

blp = Blueprint("institutions", __name__, url_prefix="/v1/institutions",
                description="Partner institutions (lenders).")


@blp.route("")
class Institutions(MethodView):
    @require(blp, Role.OPS, Role.INSTITUTION)
    @blp.arguments(InstitutionFilters, location="query")
    @blp.response(200, InstitutionOut(many=True))
    @blp.paginate()
    def get(self, filters, pagination_parameters):
        """List institutions (an institution key sees only its own)."""
        rows, pagination_parameters.item_count = service.list_visible(
            get_session(), principal(), **filters, **window(pagination_parameters))
        return rows

    @require(blp, Role.OPS)
    @blp.arguments(InstitutionIn)
    @blp.response(201, InstitutionOut, headers=ETAG_HEADER)
    @blp.alt_response(409, response="DEFAULT_ERROR", description="name already taken")
    def post(self, data):
        """Register an institution."""
        institution = service.create(get_session(), principal(), data)
        return institution, etag(institution.version)


@blp.route("/<int(max=2147483647):institution_id>")
class InstitutionById(MethodView):
    @require(blp, Role.OPS, Role.INSTITUTION)
    @blp.response(200, InstitutionOut, headers=ETAG_HEADER)
    @blp.alt_response(404, response="DEFAULT_ERROR")
    def get(self, institution_id):
        """Read one institution; the ETag is its version, for ``If-Match``."""
        institution = service.get_visible(get_session(), principal(), institution_id)
        return institution, etag(institution.version)

    @require(blp, Role.OPS)
    @blp.arguments(InstitutionPatch(partial=True))
    @blp.response(200, InstitutionOut, headers=ETAG_HEADER)
    @blp.alt_response(404, response="DEFAULT_ERROR")
    @blp.alt_response(409, response="DEFAULT_ERROR", description="stale If-Match version")
    def patch(self, changes, institution_id):
        """Change an institution. Send ``If-Match: "<version>"`` to refuse lost updates."""
        institution = service.update(get_session(), principal(), institution_id, changes,
                                     expected_version())
        return institution, etag(institution.version)
