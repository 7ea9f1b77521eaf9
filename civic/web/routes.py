"""THE route table: every page, fragment and API route of Civic, each with a name (design.md, one route table)."""

from __future__ import annotations

from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from civic.accounts import views as accounts
from civic.exports import views as exports
from civic.petitions import views as petitions
from civic.settings import ROOT
from civic.territories import views as territories
from civic.web import views as web

routes = [
    Route("/", petitions.home, name="home"),
    Route("/healthz", web.healthz, name="healthz"),
    Route("/lang/{code}", web.set_language, name="set_language"),
    # accounts
    Route("/register", accounts.register, methods=["GET", "POST"], name="register"),
    Route("/login", accounts.login, methods=["GET", "POST"], name="login"),
    Route("/logout", accounts.logout, methods=["POST"], name="logout"),
    # petitions
    Route("/petitions/new", petitions.new, methods=["GET", "POST"], name="petition_new"),
    Route("/petitions/{petition_id:int}", petitions.detail, name="petition"),
    Route("/petitions/{petition_id:int}/sign", petitions.sign, methods=["GET", "POST"], name="petition_sign"),
    Route("/petitions/{petition_id:int}/progress", petitions.progress, name="petition_progress"),
    Route("/petitions/{petition_id:int}/publish", petitions.publish, methods=["POST"], name="petition_publish"),
    # council staff
    Route("/staff/petitions/{petition_id:int}/signatures", petitions.staff_signatures, name="staff_signatures"),
    Route("/staff/petitions/{petition_id:int}/signatures.csv", exports.signatures_csv, name="staff_signatures_csv"),
    # paper and assisted signatures (entered by linked CSO members)
    # -- end of paper signatures
    # dossier exports and receipt
    # -- end of dossier exports
    # open data API (no personal data)
    Route("/api/v1/petitions", petitions.api_petitions, name="api_petitions"),
    Route("/api/v1/petitions/{petition_id:int}", petitions.api_petition, name="api_petition"),
    Route("/api/v1/territories/provinces", territories.api_provinces, name="api_provinces"),
    Mount("/static", app=StaticFiles(directory=ROOT / "static"), name="static"),
]
