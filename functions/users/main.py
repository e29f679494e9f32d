"""Users service entry points: parse → call → respond (the registry decorators do auth, parsing, errors)."""
from shared_lib.rbac import ANY_ROLE, OWNER, Caller, Identity
from shared_lib.registry import Service

from . import models_service, sales_settings, service, settings_service
from .schemas import (
    Agency,
    AgencyCreate,
    AgencyPatch,
    AgencyView,
    Assignments,
    AssignmentsPut,
    FinancialSettings,
    FinancialSettingsHistory,
    FinancialSettingsPut,
    Health,
    Me,
    Model,
    ModelCreate,
    ModelPage,
    ModelPatch,
    ModelSettings,
    ModelSettingsHistory,
    ModelSettingsPut,
    ModelsQuery,
    PlatformSettings,
    PlatformSettingsPut,
    PlatformSettingsView,
    SalesSettings,
    SalesSettingsPut,
    SalesSettingsView,
    Senders,
    SendersPut,
    SettingsOnQuery,
    User,
    UserCreate,
    UserPage,
    UserPatch,
    UsersQuery,
)

svc = Service("users")
svc.publishes(*settings_service.EVENT_TYPES.values())

health = svc.http("health", "/api/health/")
agencies = svc.http("agencies", "/api/agencies/")
me = svc.http("me", "/api/me/")
agency = svc.http("agency", "/api/agency/")
users = svc.http("users", "/api/users/")
user = svc.http("user", "/api/users/{user_id}/")
user_financial_settings = svc.http("user_financial_settings", "/api/users/{user_id}/financial-settings/")
models = svc.http("models", "/api/models/")
model = svc.http("model", "/api/models/{model_id}/")
model_assignments = svc.http("model_assignments", "/api/models/{model_id}/assignments/")
model_settings = svc.http("model_settings", "/api/models/{model_id}/settings/")
platform_settings = svc.http("platform_settings", "/api/platform-settings/")
sales_settings_http = svc.http("sales_settings", "/api/sales-settings/")
model_senders = svc.http("model_senders", "/api/models/{model_id}/senders/")


@health.get(response=Health, auth="none")
def get_health():
    """Liveness and database reachability (no token needed)."""
    from shared_lib.health import check

    return check()


@agencies.post(request=AgencyCreate, response=Agency, auth="token", idempotent=True, conflicts=("already-member",))
def create_agency(uow, identity: Identity, body: AgencyCreate):
    """Create an agency; the signed-in caller becomes its Owner."""
    return service.agency_create(uow=uow, identity=identity, cmd=body)


@me.get(response=Me, auth="token")
def get_me(uow, identity: Identity):
    """The signed-in user's membership."""
    return service.me_get(uow=uow, identity=identity)


@agency.get(response=AgencyView, roles=ANY_ROLE)
def get_agency(uow, caller: Caller):
    """The caller's agency: name, currency, time zone; for the Owner also the settings in effect today."""
    return service.agency_get(uow=uow, caller=caller)


@agency.patch(request=AgencyPatch, response=AgencyView, roles=OWNER, conflicts=("agency-has-records",))
def patch_agency(uow, caller: Caller, body: AgencyPatch):
    """Rename the agency; change currency or time zone while nothing is recorded yet (409 agency-has-records)."""
    return service.agency_update(uow=uow, caller=caller, cmd=body)


# --- users -----------------------------------------------------------------------------------------------------


@users.post(request=UserCreate, response=User, roles=OWNER, idempotent=True, conflicts=("already-member",))
def create_user(uow, caller: Caller, body: UserCreate):
    """Add a member (creates or links their Firebase Auth account; sets custom claims {agency_id, role})."""
    return service.user_create(uow=uow, caller=caller, cmd=body)


@users.get(query=UsersQuery, response=UserPage, roles=ANY_ROLE)
def list_users(uow, caller: Caller, query: UsersQuery):
    """Users the caller may see (Owner: all; Manager: self and team; Chatter: self), newest first."""
    return service.user_list(uow=uow, caller=caller, query=query)


@user.get(response=User, roles=ANY_ROLE)
def get_user(uow, caller: Caller, user_id):
    """One user the caller may see."""
    return service.user_get(uow=uow, caller=caller, user_id=user_id)


@user.patch(request=UserPatch, response=User, roles=OWNER, conflicts=("team-not-empty", "last-owner"))
def patch_user(uow, caller: Caller, user_id, body: UserPatch):
    """Change display name, role, manager (team) or active."""
    return service.user_update(uow=uow, caller=caller, user_id=user_id, cmd=body)


@user.delete(response=User, roles=OWNER, conflicts=("team-not-empty", "last-owner"))
def deactivate_user(uow, caller: Caller, user_id):
    """Deactivate: their token gets 401 from now on; their history stays."""
    return service.user_deactivate(uow=uow, caller=caller, user_id=user_id)


@user_financial_settings.put(request=FinancialSettingsPut, response=FinancialSettings, roles=OWNER,
                             conflicts=("period-closed",))
def put_financial_settings(uow, caller: Caller, user_id, body: FinancialSettingsPut):
    """Save a version of the user's pay, in effect from effective_from."""
    return settings_service.financial_settings_put(uow=uow, caller=caller, user_id=user_id, cmd=body)


@user_financial_settings.get(query=SettingsOnQuery, response=FinancialSettingsHistory, roles=ANY_ROLE)
def get_financial_settings(uow, caller: Caller, user_id, query: SettingsOnQuery):
    """The version in effect on `on` (default today) and every version (Owner, or the user themselves)."""
    return settings_service.financial_settings_get(uow=uow, caller=caller, user_id=user_id, query=query)


# --- models ----------------------------------------------------------------------------------------------------


@models.post(request=ModelCreate, response=Model, roles=OWNER, idempotent=True)
def create_model(uow, caller: Caller, body: ModelCreate):
    """Add a model (a creator account the agency runs)."""
    return models_service.model_create(uow=uow, caller=caller, cmd=body)


@models.get(query=ModelsQuery, response=ModelPage, roles=ANY_ROLE)
def list_models(uow, caller: Caller, query: ModelsQuery):
    """Models the caller may see (Owner: all; Manager: their team's; Chatter: their own), newest first."""
    return models_service.model_list(uow=uow, caller=caller, query=query)


@model.get(response=Model, roles=ANY_ROLE)
def get_model(uow, caller: Caller, model_id):
    """One model the caller may see."""
    return models_service.model_get(uow=uow, caller=caller, model_id=model_id)


@model.patch(request=ModelPatch, response=Model, roles=OWNER)
def patch_model(uow, caller: Caller, model_id, body: ModelPatch):
    """Rename or (de)activate a model."""
    return models_service.model_update(uow=uow, caller=caller, model_id=model_id, cmd=body)


@model_assignments.put(request=AssignmentsPut, response=Assignments, roles=OWNER)
def put_assignments(uow, caller: Caller, model_id, body: AssignmentsPut):
    """Replace the set of chatters and managers assigned to the model."""
    return models_service.assignments_replace(uow=uow, caller=caller, model_id=model_id, cmd=body)


@model_assignments.get(response=Assignments, roles=ANY_ROLE)
def get_assignments(uow, caller: Caller, model_id):
    """The model's assigned users the caller may see."""
    return models_service.assignments_get(uow=uow, caller=caller, model_id=model_id)


@model_settings.put(request=ModelSettingsPut, response=ModelSettings, roles=OWNER, conflicts=("period-closed",))
def put_model_settings(uow, caller: Caller, model_id, body: ModelSettingsPut):
    """Save a version of the model's share and cost split, in effect from effective_from."""
    return settings_service.model_settings_put(uow=uow, caller=caller, model_id=model_id, cmd=body)


@model_settings.get(query=SettingsOnQuery, response=ModelSettingsHistory, roles=OWNER)
def get_model_settings(uow, caller: Caller, model_id, query: SettingsOnQuery):
    """The version in effect on `on` (default today) and every version."""
    return settings_service.model_settings_get(uow=uow, caller=caller, model_id=model_id, query=query)


# --- platform settings -----------------------------------------------------------------------------------------


@platform_settings.put(request=PlatformSettingsPut, response=PlatformSettings, roles=OWNER,
                       conflicts=("period-closed",))
def put_platform_settings(uow, caller: Caller, body: PlatformSettingsPut):
    """Save a version of the OnlyFans fee, in effect from effective_from."""
    return settings_service.platform_settings_put(uow=uow, caller=caller, cmd=body)


@platform_settings.get(query=SettingsOnQuery, response=PlatformSettingsView, roles=OWNER)
def get_platform_settings(uow, caller: Caller, query: SettingsOnQuery):
    """The OnlyFans fee in effect on `on` (default today; 20.00 before any version) and every version."""
    return settings_service.platform_settings_get(uow=uow, caller=caller, query=query)


# --- sales settings (issue #16) --------------------------------------------------------------------------------


@sales_settings_http.put(request=SalesSettingsPut, response=SalesSettings, roles=OWNER, conflicts=("period-closed",))
def put_sales_settings(uow, caller: Caller, body: SalesSettingsPut):
    """Save a version of the commission types, attribution rules, verification mode and chatter edit window."""
    return sales_settings.sales_settings_put(uow=uow, caller=caller, cmd=body)


@sales_settings_http.get(query=SettingsOnQuery, response=SalesSettingsView, roles=OWNER)
def get_sales_settings(uow, caller: Caller, query: SettingsOnQuery):
    """The sales settings in effect on `on` (default today; the defaults before any version) and every version."""
    return sales_settings.sales_settings_get(uow=uow, caller=caller, query=query)


@model_senders.put(request=SendersPut, response=Senders, roles=OWNER)
def put_model_senders(uow, caller: Caller, model_id, body: SendersPut):
    """Replace the model's platform sender names → chatters (attribution rule `sender`)."""
    return sales_settings.senders_put(uow=uow, caller=caller, model_id=model_id, cmd=body)


@model_senders.get(response=Senders, roles=OWNER)
def get_model_senders(uow, caller: Caller, model_id):
    """The model's platform sender names and the chatter each is attributed to."""
    return sales_settings.senders_get(uow=uow, caller=caller, model_id=model_id)


# --- Firestore: the frontend's profile document ----------------------------------------------------------------


@svc.on_document("users/{uid}", event="written", name="user_profile_sync")
def user_profile_sync(uow, change, params):
    """users/{uid} written → display_name, email, photo_url copied into the user row (role/agency ignored)."""
    service.profile_sync(uow=uow, firebase_uid=params["uid"], old=change.old, new=change.new)
