"""Users service entry points: parse → call → respond (the registry decorators do auth, parsing, errors)."""
from shared_lib.registry import Service
from shared_lib.rbac import Identity

from . import service
from .schemas import Agency, AgencyCreate, Health, Me

svc = Service("users")

health = svc.http("health", "/api/health/")
agencies = svc.http("agencies", "/api/agencies/")
me = svc.http("me", "/api/me/")


@health.get(response=Health, auth="none")
def get_health():
    """Liveness and database reachability (no token needed)."""
    from shared_lib.health import check

    return check()


@agencies.post(request=AgencyCreate, response=Agency, auth="token", idempotent=True)
def create_agency(uow, identity: Identity, body: AgencyCreate):
    """Create an agency; the signed-in caller becomes its Owner."""
    return service.agency_create(uow=uow, identity=identity, cmd=body)


@me.get(response=Me, auth="token")
def get_me(uow, identity: Identity):
    """The signed-in user's membership."""
    return service.me_get(uow=uow, identity=identity)
