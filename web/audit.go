package web

import (
	"net/http"

	"github.com/stampseal/stampseal/audit"
)

// auditPage is the body of the audit template.
type auditPage struct {
	Events []audit.Event
	Limit  int
}

// auditTrail shows the merchant's audit trail, newest first.
func (u *UI) auditTrail(w http.ResponseWriter, r *http.Request, _ string, s *session) {
	page := auditPage{Limit: audit.DefaultLimit}
	if u.Audit != nil {
		events, err := u.Audit.List(audit.Query{Merchant: s.merchant, Limit: page.Limit})
		if err != nil {
			u.internal(w, r, s, err)
			return
		}
		page.Events = events
	}
	u.render(w, r, http.StatusOK, "audit", view{Title: "Audit trail", Session: u.sessionView(s), Page: page})
}
