"""THE route table: every page, fragment and API route of Civic, each with a name (design.md, one route table)."""

from __future__ import annotations

from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from civic.accounts import role_views as roles
from civic.accounts import views as accounts
from civic.consultations import meeting_views as meetings
from civic.consultations import views as consultations
from civic.exports import views as exports
from civic.moderation import views as moderation
from civic.notifications import views as notifications
from civic.organisations import views as organisations
from civic.petitions import abuse_views as abuse  # issue #8: limits
from civic.petitions import paper_views as paper
from civic.petitions import views as petitions
from civic.proposals import views as proposals
from civic.search import views as search
from civic.settings import ROOT
from civic.territories import views as territories
from civic.votes import results_views, sheet_views, verify_views
from civic.votes import views as votes
from civic.web import audit_views, dashboard_views
from civic.web import views as web

routes = [
    Route("/", petitions.home, name="home"),
    Route("/healthz", web.healthz, name="healthz"),
    Route("/lang/{code}", web.set_language, name="set_language"),
    # accounts
    Route("/register", accounts.register, methods=["GET", "POST"], name="register"),
    Route("/login", accounts.login, methods=["GET", "POST"], name="login"),
    Route("/logout", accounts.logout, methods=["POST"], name="logout"),
    # issue #8: accounts — email verification by a typed code
    Route("/account/verify", accounts.verify_email, methods=["GET", "POST"], name="account_verify"),
    Route("/account/verify/new-code", accounts.new_code, methods=["POST"], name="account_verify_new_code"),
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
    Route("/admin/outbox", notifications.outbox, name="outbox"),
    Route("/staff/petitions/{petition_id:int}/signatures", petitions.staff_signatures, name="staff_signatures"),
    Route("/staff/petitions/{petition_id:int}/signatures.csv", exports.signatures_csv, name="staff_signatures_csv"),
    # issue #8: limits — burst tools and batch invalidation
    Route("/staff/petitions/{petition_id:int}/bursts", abuse.bursts, name="staff_bursts"),
    Route("/staff/petitions/{petition_id:int}/bursts/invalidate", abuse.invalidate, methods=["POST"],
          name="staff_bursts_invalidate"),
    # -- end of issue #8: limits
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
    Route("/consultations", consultations.index, name="consultations"),
    Route("/consultations/new", consultations.new, methods=["GET", "POST"], name="consultation_new"),
    Route("/consultations/{consultation_id:int}", consultations.detail, name="consultation"),
    Route("/consultations/{consultation_id:int}/edit", consultations.edit, methods=["GET", "POST"],
          name="consultation_edit"),
    Route("/consultations/{consultation_id:int}/phases", consultations.phases, methods=["GET", "POST"],
          name="consultation_phases"),
    Route("/consultations/{consultation_id:int}/phases/{phase_id:int}/edit", consultations.phase_edit,
          methods=["GET", "POST"], name="consultation_phase_edit"),
    Route("/consultations/{consultation_id:int}/phases/{phase_id:int}/delete", consultations.phase_delete,
          methods=["POST"], name="consultation_phase_delete"),
    Route("/consultations/{consultation_id:int}/documents", consultations.documents_page, methods=["GET", "POST"],
          name="consultation_documents"),
    Route("/consultations/{consultation_id:int}/documents/{document_id:int}/delete", consultations.document_delete,
          methods=["POST"], name="consultation_document_delete"),
    Route("/documents/{document_id:int}.pdf", consultations.download, name="consultation_document"),
    Route("/api/v1/consultations", consultations.api_consultations, name="api_consultations"),
    Route("/api/v1/consultations/{consultation_id:int}", consultations.api_consultation, name="api_consultation"),
    # -- end of consultations
    # forum meetings
    Route("/consultations/{consultation_id:int}/meetings/new", meetings.new, methods=["GET", "POST"],
          name="meeting_new"),
    Route("/meetings/{meeting_id:int}", meetings.detail, name="meeting"),
    Route("/meetings/{meeting_id:int}/edit", meetings.edit, methods=["GET", "POST"], name="meeting_edit"),
    Route("/meetings/{meeting_id:int}/register", meetings.register, methods=["POST"], name="meeting_register"),
    Route("/meetings/{meeting_id:int}/cancel", meetings.cancel, methods=["POST"], name="meeting_cancel"),
    Route("/meetings/{meeting_id:int}/registrations", meetings.registrations, name="meeting_registrations"),
    Route("/meetings/{meeting_id:int}/attendance", meetings.attendance, methods=["POST"], name="meeting_attendance"),
    Route("/meetings/{meeting_id:int}/minutes", meetings.minutes, methods=["POST"], name="meeting_minutes"),
    # -- end of forum meetings
    # proposals, supports, comments, official answers
    Route("/consultations/{consultation_id:int}/proposals", proposals.index, name="proposals"),
    Route("/consultations/{consultation_id:int}/proposals/new", proposals.new, methods=["GET", "POST"],
          name="proposal_new"),
    Route("/consultations/{consultation_id:int}/comments", proposals.consultation_comments, methods=["GET", "POST"],
          name="consultation_comments"),
    Route("/proposals/{proposal_id:int}", proposals.detail, name="proposal"),
    Route("/proposals/{proposal_id:int}/edit", proposals.edit, methods=["GET", "POST"], name="proposal_edit"),
    Route("/proposals/{proposal_id:int}/withdraw", proposals.withdraw, methods=["POST"], name="proposal_withdraw"),
    Route("/proposals/{proposal_id:int}/support", proposals.support, methods=["POST"], name="proposal_support"),
    Route("/proposals/{proposal_id:int}/comments", proposals.comment, methods=["POST"], name="proposal_comments"),
    Route("/proposals/{proposal_id:int}/answer", proposals.answer, methods=["POST"], name="proposal_answer"),
    Route("/proposals/{proposal_id:int}/updates", proposals.updates, methods=["POST"], name="proposal_updates"),
    Route("/api/v1/consultations/{consultation_id:int}/proposals", proposals.api_proposals, name="api_proposals"),
    Route("/api/v1/proposals/{proposal_id:int}", proposals.api_proposal, name="api_proposal"),
    # -- end of proposals
    # search
    Route("/search", search.search, name="search"),
    Route("/api/v1/search", search.api_search, name="api_search"),
    # -- end of search
    # exports and open data
    Route("/staff/exports", exports.exports_centre, name="exports_centre"),
    Route("/staff/exports/{dataset}.{fmt}", exports.export_dataset, name="export_dataset"),
    Route("/open-data", exports.open_data, name="open_data"),
    Route("/open-data/civic-open-data.zip", exports.open_data_bundle, name="open_data_bundle"),
    Route("/api/v1/openapi.json", exports.openapi, name="openapi"),
    # -- end of exports and open data
    # moderation
    Route("/reports", moderation.report, methods=["POST"], name="report"),
    Route("/staff/moderation", moderation.queue, name="moderation_queue"),
    Route("/staff/moderation/{moderation_id:int}", moderation.decide, methods=["POST"], name="moderation_decide"),
    Route("/staff/users/{user_id:int}/block", moderation.block, methods=["POST"], name="moderation_block"),
    Route("/me/appeals/{moderation_id:int}", moderation.appeal, methods=["GET", "POST"], name="appeal"),
    # -- end of moderation
    # roles
    Route("/admin/roles", roles.index, methods=["GET", "POST"], name="admin_roles"),
    Route("/admin/roles/{user_id:int}/grant", roles.grant, methods=["POST"], name="admin_role_grant"),
    Route("/admin/roles/{user_id:int}/grants/{grant_id:int}/revoke", roles.revoke, methods=["POST"],
          name="admin_role_revoke"),
    Route("/admin/roles/{user_id:int}/base", roles.base_role, methods=["POST"], name="admin_role_base"),
    # -- end of roles
    # audit and dashboard
    Route("/staff", dashboard_views.dashboard, name="staff_dashboard"),
    Route("/admin/audit", audit_views.audit_page, name="audit_log"),
    Route("/admin/audit.{fmt}", audit_views.audit_export, name="audit_export"),
    # -- end of audit and dashboard
    # votes casting
    Route("/consultations/{consultation_id:int}/ballots", votes.consultation_ballots, name="consultation_ballots"),
    Route("/consultations/{consultation_id:int}/ballots/new", votes.new, methods=["GET", "POST"], name="ballot_new"),
    Route("/ballots/{ballot_id:int}", votes.detail, name="ballot"),
    Route("/ballots/{ballot_id:int}/vote", votes.vote, methods=["POST"], name="ballot_vote"),
    Route("/ballots/{ballot_id:int}/edit", votes.edit, methods=["GET", "POST"], name="ballot_edit"),
    Route("/ballots/{ballot_id:int}/questions", votes.add_question, methods=["POST"], name="ballot_questions"),
    Route("/ballots/{ballot_id:int}/questions/{question_id:int}/delete", votes.delete_question, methods=["POST"],
          name="ballot_question_delete"),
    # -- end of votes casting
    # votes tallies
    Route("/ballots/{ballot_id:int}/sheets", sheet_views.index, name="tally_sheets"),
    Route("/ballots/{ballot_id:int}/sheets/new", sheet_views.new, methods=["POST"], name="tally_sheet_new"),
    Route("/sheets/{sheet_id:int}/correct", sheet_views.correct, methods=["POST"], name="tally_sheet_correct"),
    Route("/ballots/{ballot_id:int}/publish", verify_views.publish, methods=["POST"], name="ballot_publish"),
    Route("/ballots/{ballot_id:int}/ballots.jsonl", verify_views.ballot_file, name="ballot_file"),
    Route("/ballots/{ballot_id:int}/receipts.txt", verify_views.receipts, name="ballot_receipts"),
    Route("/ballots/{ballot_id:int}/receipt", verify_views.receipt_check, methods=["GET", "POST"],
          name="receipt_check"),
    # -- end of votes tallies
    # votes results
    Route("/ballots/{ballot_id:int}/results", results_views.page, name="ballot_results"),
    Route("/ballots/{ballot_id:int}/results/fragment", results_views.fragment, name="ballot_results_fragment"),
    Route("/ballots/{ballot_id:int}/results/stream", results_views.stream, name="ballot_results_stream"),
    Route("/ballots/{ballot_id:int}/results.{fmt}", results_views.export, name="ballot_results_export"),
    Route("/api/v1/ballots/{ballot_id:int}/results", results_views.api, name="api_ballot_results"),
    # -- end of votes results
    # open data API (no personal data)
    Route("/api/v1/petitions", petitions.api_petitions, name="api_petitions"),
    Route("/api/v1/petitions/{petition_id:int}", petitions.api_petition, name="api_petition"),
    Route("/api/v1/territories/provinces", territories.api_provinces, name="api_provinces"),
    Mount("/static", app=StaticFiles(directory=ROOT / "static"), name="static"),
]
