package web

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gorilla/mux"

	"github.com/stampseal/stampseal/audit"
	"github.com/stampseal/stampseal/fraud"
	"github.com/stampseal/stampseal/verify"
)

// alertList is the body of the alerts template.
type alertList struct {
	Status, Kind, Severity string // the filter as chosen
	Kinds, Severities      []string
	Alerts                 []fraud.Alert
	Limited                bool // the list stopped at fraud.DefaultLimit
	Limit                  int
	Stats                  *fraud.Stats // the last 30 days: verdicts, precision, alerts a day
}

func (u *UI) alerts(w http.ResponseWriter, r *http.Request, _ string, s *session) {
	q := r.URL.Query()
	page := alertList{Status: fraud.StatusOpen, Kind: q.Get("kind"), Severity: q.Get("severity"),
		Kinds: fraud.Kinds, Severities: severities, Limit: fraud.DefaultLimit}
	if q.Has("status") {
		page.Status = q.Get("status")
	}
	f := fraud.Filter{Status: page.Status, Kind: page.Kind, Severity: page.Severity}
	if f.Status == "all" {
		f.Status = ""
	}
	v := view{Title: "Alerts", Session: u.sessionView(s), Flash: s.flash, Page: &page}
	if err := f.Validate(); err != nil {
		v.Error = "That filter names nothing: choose a status, kind and severity from the lists."
		u.render(w, r, http.StatusBadRequest, "alerts", v)
		return
	}
	list, err := u.Fraud.Alerts(s.merchant, f)
	if err != nil {
		u.internal(w, r, s, err)
		return
	}
	page.Alerts, page.Limited = list, len(list) >= fraud.DefaultLimit
	now := time.Now()
	if st, err := u.Fraud.Stats(s.merchant, now.Add(-30*24*time.Hour), now); err == nil {
		page.Stats = &st
	} else {
		u.log.Error("ui alert stats", "merchant", s.merchant, "err", err)
	}
	u.render(w, r, http.StatusOK, "alerts", v)
}

// alertPage is the body of the alert template.
type alertPage struct {
	Alert    fraud.Alert
	Help     string
	MaxNote  int
	Card     *verify.Status // nil without a verifier or for a serial not in the ledger
	CardNote string         // why Card is nil, when it matters
	Blocked  bool
	Serials  []string // the serials the block form offers, the alert's own first
	Form     alertForms
}

// alertForms is what the reader typed into the forms of the alert page,
// shown again with the problem when a post is refused.
type alertForms struct {
	Note, NoteError     string
	Reason, ReasonError string
	Serial              string
}

func (u *UI) alert(w http.ResponseWriter, r *http.Request, _ string, s *session) {
	u.showAlert(w, r, s, mux.Vars(r)["id"], http.StatusOK, alertForms{})
}

// showAlert renders the merchant's alert id with status; another merchant's
// alert is not found, exactly like one that does not exist.
func (u *UI) showAlert(w http.ResponseWriter, r *http.Request, s *session, id string, status int, form alertForms) {
	if !idPattern.MatchString(id) {
		u.notFound(w, r, s)
		return
	}
	a, err := u.Fraud.Alert(s.merchant, id)
	if errors.Is(err, fraud.ErrNotFound) {
		u.notFound(w, r, s)
		return
	}
	if err != nil {
		u.internal(w, r, s, err)
		return
	}
	page := alertPage{Alert: a, Help: kindHelp[a.Kind], MaxNote: fraud.MaxNoteLen, Form: form}
	for _, sn := range append([]string{a.Serial}, a.Evidence.Serials...) {
		sn = strings.ToLower(sn)
		if serialPattern.MatchString(sn) && !slices.Contains(page.Serials, sn) {
			page.Serials = append(page.Serials, sn)
		}
	}
	if page.Form.Serial == "" && len(page.Serials) > 0 {
		page.Form.Serial = page.Serials[0]
	}
	if u.Verifier != nil && len(page.Serials) > 0 {
		st, err := u.Verifier.Status(s.merchant, page.Serials[0])
		switch {
		case err == nil:
			if n := len(st.History); n > 10 {
				st.History = st.History[n-10:]
			}
			page.Card, page.Blocked = &st, st.Status == verify.StatusBlocked
		case errors.Is(err, verify.ErrNotFound):
			page.CardNote = "This serial is not in your merchant's ledger: it was never issued by you (a forgery, or another merchant's code)."
		default:
			u.log.Error("ui: credential status", "merchant", s.merchant, "err", err)
			page.CardNote = "The card's status could not be read right now."
		}
	}
	u.render(w, r, status, "alert", view{Title: title(a.Kind) + " alert", Session: u.sessionView(s), Flash: s.flash, Page: &page})
}

// label turns a snake_case name into words: "duplicate_card" is
// "duplicate card".
func label(s string) string { return strings.ReplaceAll(s, "_", " ") }

// title is label with a capital first letter: "Duplicate card".
func title(s string) string {
	s = label(s)
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func (u *UI) notFound(w http.ResponseWriter, r *http.Request, s *session) {
	u.fail(w, r, s, http.StatusNotFound, "Alert not found",
		"There is no alert with this id for your merchant. It may have been mistyped.", nil)
}

// resolver names the signed-in key in a resolution or block record.
func resolver(s *session) string { return fmt.Sprintf("%s (%s)", s.keyName, s.keyID) }

// checkText validates a note or reason: required, valid UTF-8, bounded.
func checkText(text, what string) string {
	switch {
	case text == "":
		return "Write a " + what + ": it is kept with the record for whoever reads it next."
	case !utf8.ValidString(text):
		return "The " + what + " is not valid text."
	case len(text) > fraud.MaxNoteLen:
		return fmt.Sprintf("The %s is %d bytes long; keep it to %d.", what, len(text), fraud.MaxNoteLen)
	}
	return ""
}

func (u *UI) resolve(w http.ResponseWriter, r *http.Request, sid string, s *session) {
	id := mux.Vars(r)["id"]
	if !idPattern.MatchString(id) {
		u.notFound(w, r, s)
		return
	}
	note := strings.TrimSpace(r.PostFormValue("note"))
	if msg := checkText(note, "note"); msg != "" {
		u.showAlert(w, r, s, id, http.StatusUnprocessableEntity, alertForms{Note: note, NoteError: msg})
		return
	}
	before, err := u.Fraud.Alert(s.merchant, id)
	if err == nil && before.Status == fraud.StatusResolved {
		u.sessions.setFlash(sid, "This alert was already resolved; nothing changed.")
		seeOther(w, r, alertPath(id))
		return
	}
	verdict := fraud.Verdict(r.PostFormValue("verdict"))
	if !verdict.Valid() {
		u.showAlert(w, r, s, id, http.StatusUnprocessableEntity, alertForms{Note: note, NoteError: "Choose a verdict from the list."})
		return
	}
	a, err := u.Fraud.ResolveWith(s.merchant, id, fraud.Resolving{Note: note, By: resolver(s), Verdict: verdict,
		LiftThrottle: r.PostFormValue("lift_throttle") == "on"})
	switch {
	case errors.Is(err, fraud.ErrNotFound):
		u.notFound(w, r, s)
		return
	case errors.Is(err, fraud.ErrInvalid):
		u.showAlert(w, r, s, id, http.StatusUnprocessableEntity, alertForms{Note: note, NoteError: "The note was refused: keep it to plain text."})
		return
	case err != nil:
		u.internal(w, r, s, err)
		return
	}
	if u.Audit != nil {
		if err := u.Audit.Record(s.merchant, audit.AlertResolved, actor(r, s), a.ID, map[string]string{"kind": string(a.Kind), "note": note, "verdict": string(verdict)}); err != nil {
			u.log.Error("ui alert resolved: audit", "alert", a.ID, "err", err)
		}
	}
	u.log.Info("ui alert resolved", "merchant", s.merchant, "alert", a.ID, "kind", a.Kind, "key_id", s.keyID)
	u.sessions.setFlash(sid, fmt.Sprintf("Alert resolved. The %s alert is closed with your note; a new occurrence will open a new alert.", label(a.Kind)))
	seeOther(w, r, alertPath(id))
}

func (u *UI) block(w http.ResponseWriter, r *http.Request, sid string, s *session) {
	serial := strings.ToLower(mux.Vars(r)["serial"])
	back := r.PostFormValue("alert") // the alert page the form was on, if any
	if back != "" && !idPattern.MatchString(back) {
		back = ""
	}
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	refuse := func(status int, msg string) {
		if back != "" {
			form := alertForms{Reason: reason, ReasonError: msg}
			if serialPattern.MatchString(serial) {
				form.Serial = serial
			}
			u.showAlert(w, r, s, back, status, form)
			return
		}
		u.fail(w, r, s, status, "Card not blocked", msg, nil)
	}
	if !serialPattern.MatchString(serial) {
		refuse(http.StatusNotFound, "That is not a card serial: a serial is 32 hexadecimal digits.")
		return
	}
	if msg := checkText(reason, "reason"); msg != "" {
		refuse(http.StatusUnprocessableEntity, msg)
		return
	}
	err := u.Fraud.BlockAs(actor(r, s), s.merchant, serial, reason)
	switch {
	case errors.Is(err, fraud.ErrNotFound):
		refuse(http.StatusNotFound, "This serial belongs to no card of your merchant, so it was not blocked.")
		return
	case errors.Is(err, fraud.ErrInvalid):
		refuse(http.StatusUnprocessableEntity, "The block was refused: keep the reason to plain text.")
		return
	case err != nil:
		u.internal(w, r, s, err)
		return
	}
	u.log.Warn("ui card blocked", "merchant", s.merchant, "serial", serial, "key_id", s.keyID)
	u.sessions.setFlash(sid, fmt.Sprintf("Card %s is blocked. Every later verify answers \"blocked\", and every redeem or stamp is refused.", serial))
	if back != "" {
		seeOther(w, r, alertPath(back))
		return
	}
	seeOther(w, r, Prefix+"alerts")
}
