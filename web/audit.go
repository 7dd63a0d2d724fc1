package web

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gorilla/mux"

	"github.com/stampseal/stampseal/audit"
	"github.com/stampseal/stampseal/fraud"
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

// unblock lifts a block of the merchant's card, from the alert page the
// form was on.
func (u *UI) unblock(w http.ResponseWriter, r *http.Request, sid string, s *session) {
	serial := strings.ToLower(mux.Vars(r)["serial"])
	back := r.PostFormValue("alert")
	if back != "" && !idPattern.MatchString(back) {
		back = ""
	}
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	if !serialPattern.MatchString(serial) {
		u.fail(w, r, s, http.StatusNotFound, "Card not unblocked", "That is not a card serial: a serial is 32 hexadecimal digits.", nil)
		return
	}
	if msg := checkText(reason, "reason"); msg != "" {
		u.fail(w, r, s, http.StatusUnprocessableEntity, "Card not unblocked", msg, nil)
		return
	}
	err := u.Fraud.Unblock(actor(r, s), s.merchant, serial, reason)
	switch {
	case errors.Is(err, fraud.ErrNotFound):
		u.fail(w, r, s, http.StatusNotFound, "Card not unblocked", "No card of your merchant with this serial is blocked.", nil)
		return
	case errors.Is(err, fraud.ErrInvalid):
		u.fail(w, r, s, http.StatusUnprocessableEntity, "Card not unblocked", "The reason was refused: keep it to plain text.", err)
		return
	case err != nil:
		u.internal(w, r, s, err)
		return
	}
	u.log.Warn("ui card unblocked", "merchant", s.merchant, "serial", serial, "key_id", s.keyID)
	u.sessions.setFlash(sid, fmt.Sprintf("Card %s is unblocked: it verifies again from the next scan on.", serial))
	if back != "" {
		seeOther(w, r, alertPath(back))
		return
	}
	seeOther(w, r, Prefix+"alerts")
}
