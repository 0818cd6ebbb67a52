from flask import current_app
from flask.views import MethodView

from core.api import ETAG_HEADER, Blueprint, etag, expected_version, principal, require, window
from core.db import get_session
from core.principal import Role
from products import service
from products.schemas import ProductFilters, ProductIn, ProductOut, ProductPatch

blp = Blueprint("products", __name__, url_prefix="/v1/products",
                description="Loan products: ranges, eligibility rules, caps, weight, status.")


@blp.route("")
class Products(MethodView):
    @require(blp, Role.OPS, Role.INSTITUTION)
    @blp.arguments(ProductFilters, location="query")
    @blp.response(200, ProductOut(many=True))
    @blp.paginate()
    def get(self, filters, pagination_parameters):
        """List products, filtered by status, type and institution (an institution key
        sees only its own)."""
        rows, pagination_parameters.item_count = service.list_visible(
            get_session(), principal(), **filters, **window(pagination_parameters))
        return rows

    @require(blp, Role.OPS)
    @blp.arguments(ProductIn)
    @blp.response(201, ProductOut, headers=ETAG_HEADER)
    @blp.alt_response(409, response="DEFAULT_ERROR", description="name taken at institution")
    def post(self, data):
        """Add a product to an institution's catalogue."""
        product = service.create(get_session(), principal(), data,
                                 apr_cap=current_app.config["APR_CAP"])
        return product, etag(product.version)


@blp.route("/<int(max=2147483647):product_id>")
class ProductById(MethodView):
    @require(blp, Role.OPS, Role.INSTITUTION)
    @blp.response(200, ProductOut, headers=ETAG_HEADER)
    @blp.alt_response(404, response="DEFAULT_ERROR")
    def get(self, product_id):
        """Read one product; the ETag is its version, for ``If-Match``."""
        product = service.get_visible(get_session(), principal(), product_id)
        return product, etag(product.version)

    @require(blp, Role.OPS)
    @blp.arguments(ProductPatch(partial=True))
    @blp.response(200, ProductOut, headers=ETAG_HEADER)
    @blp.alt_response(404, response="DEFAULT_ERROR")
    @blp.alt_response(409, response="DEFAULT_ERROR", description="stale If-Match version")
    def patch(self, changes, product_id):
        """Change a product. Weight, caps and status need a ``reason``; send
        ``If-Match: "<version>"`` to refuse lost updates."""
        product = service.update(get_session(), principal(), product_id, changes,
                                 expected_version(), apr_cap=current_app.config["APR_CAP"])
        return product, etag(product.version)
