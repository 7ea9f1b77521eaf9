"""THE route table: every page, fragment and API route of Civic, each with a name (design.md, one route table)."""

from __future__ import annotations

from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from civic.accounts import views as accounts
from civic.exports import views as exports
from civic.notifications import views as notifications
from civic.organisations import views as organisations
from civic.petitions import paper_views as paper
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
    Route("/preferences", accounts.display_preferences, methods=["GET", "POST"], name="preferences"),
    # petitions
    Route("/petitions/new", petitions.new, methods=["GET", "POST"], name="petition_new"),
    Route("/petitions/{petition_id:int}", petitions.detail, name="petition"),
    Route("/petitions/{petition_id:int}/sign", petitions.sign, methods=["GET", "POST"], name="petition_sign"),
    Route("/petitions/{petition_id:int}/progress", petitions.progress, name="petition_progress"),
    Route("/petitions/{petition_id:int}/transition/{to}", petitions.transition, methods=["POST"],
          name="petition_transition"),
    Route("/petitions/{petition_id:int}/deputy", petitions.invite_deputy, methods=["POST"], name="petition_deputy"),
    Route("/petitions/{petition_id:int}/organisations/{action:str}", petitions.collecting_organisation,
          methods=["POST"], name="petition_organisations"),
    # organisations and invitations
    Route("/organisations", organisations.index, name="organisations"),
    Route("/organisations/new", organisations.new, methods=["GET", "POST"], name="organisation_new"),
    Route("/organisations/{organisation_id:int}", organisations.detail, name="organisation"),
    Route("/organisations/{organisation_id:int}/verify", organisations.verify, methods=["POST"],
          name="organisation_verify"),
    Route("/organisations/{organisation_id:int}/invite", organisations.invite, methods=["POST"],
          name="organisation_invite"),
    Route("/organisations/{organisation_id:int}/collectors", organisations.link_collector, methods=["POST"],
          name="organisation_collectors"),
    Route("/invitations/{token}", organisations.invitation, methods=["GET", "POST"], name="invitation"),
    # signatories' rights
    Route("/me/signatures", petitions.my_signatures, name="my_signatures"),
    Route("/me/signatures/{petition_id:int}/withdraw", petitions.withdraw_signature, methods=["POST"],
          name="withdraw_signature"),
    Route("/me/data.json", petitions.my_data, name="my_data"),
    # council staff
    Route("/staff", petitions.dashboard, name="staff_dashboard"),
    Route("/admin/outbox", notifications.outbox, name="outbox"),
    Route("/staff/petitions/{petition_id:int}/signatures", petitions.staff_signatures, name="staff_signatures"),
    Route("/staff/petitions/{petition_id:int}/signatures.csv", exports.signatures_csv, name="staff_signatures_csv"),
    # paper and assisted signatures (entered by linked CSO members)
    Route("/petitions/{petition_id:int}/paper", paper.enter, methods=["GET", "POST"], name="petition_paper"),
    Route("/petitions/{petition_id:int}/paper/import", paper.import_sheet, methods=["GET", "POST"],
          name="petition_paper_import"),
    Route("/petitions/{petition_id:int}/paper/template.csv", paper.template_csv, name="petition_paper_template"),
    # -- end of paper signatures
    # dossier exports and receipt
    Route("/petitions/{petition_id:int}/dossier.{fmt}", exports.public_dossier, name="petition_dossier"),
    Route("/petitions/{petition_id:int}/receipt.pdf", exports.receipt_pdf, name="petition_receipt"),
    Route("/staff/petitions/{petition_id:int}/dossier.{fmt}", exports.staff_dossier, name="staff_petition_dossier"),
    # -- end of dossier exports
    # consultations and phases
    # -- end of consultations
    # forum meetings
    # -- end of forum meetings
    # proposals, supports, comments, official answers
    # -- end of proposals
    # search
    # -- end of search
    # open data API (no personal data)
    Route("/api/v1/petitions", petitions.api_petitions, name="api_petitions"),
    Route("/api/v1/petitions/{petition_id:int}", petitions.api_petition, name="api_petition"),
    Route("/api/v1/territories/provinces", territories.api_provinces, name="api_provinces"),
    Mount("/static", app=StaticFiles(directory=ROOT / "static"), name="static"),
]
