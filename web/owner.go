package web

import (
	"crypto/sha256"
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/stampseal/stampseal/access"
	"github.com/stampseal/stampseal/credential"
	"github.com/stampseal/stampseal/issuer"
	"github.com/stampseal/stampseal/report"
)

// Figures answers a merchant's figures over a window; report.Book is one.
type Figures interface {
	Stats(merchant string, from, to time.Time) (report.Stats, error)
}

// Programs lists and creates stamp-card programs; issuer.Issuer is one.
type Programs interface {
	Programs(merchant, after string, limit int) ([]credential.Program, string, error)
	CreateProgram(p credential.Program) (credential.Program, error)
}

// mountOwner adds the owner's pages: figures and charts, programs,
// campaigns, API keys and their CSV exports, and the merchant picker of
// the all-merchants admin.
func (u *UI) mountOwner(s *mux.Router) {
	s.HandleFunc("/merchant", u.signedIn(u.pickMerchantPage)).Methods("GET", "HEAD")
	s.HandleFunc("/merchant", u.signedInPost(u.pickMerchant)).Methods("POST")
	if u.Report == nil || u.Programs == nil {
		return
	}
	s.HandleFunc("/owner", u.signedIn(u.overview)).Methods("GET", "HEAD")
	s.HandleFunc("/owner/programs", u.signedIn(u.programsPage)).Methods("GET", "HEAD")
	s.HandleFunc("/owner/programs", u.signedInPost(u.createProgram)).Methods("POST")
	s.HandleFunc("/owner/campaigns", u.signedIn(u.campaignsPage)).Methods("GET", "HEAD")
	s.HandleFunc("/owner/keys", u.signedIn(u.keysPage)).Methods("GET", "HEAD")
	s.HandleFunc("/owner/keys", u.signedInPost(u.createKey)).Methods("POST")
	s.HandleFunc("/owner/keys/{id}/revoke", u.signedInPost(u.revokeKey)).Methods("POST")
	s.HandleFunc("/owner/export/{table}.csv", u.signedIn(u.export)).Methods("GET", "HEAD")
}

// window reads ?from=&to= (dates), the last 30 days by default.
func (u *UI) window(r *http.Request) (from, to time.Time, err error) {
	from, to = report.Window(u.now())
	q := r.URL.Query()
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"from", &from}, {"to", &to}} {
		if v := q.Get(p.name); v != "" {
			t, err := time.Parse(time.DateOnly, v)
			if err != nil {
				return from, to, fmt.Errorf("%s must be a date like 2026-11-24", p.name)
			}
			*p.dst = t
		}
	}
	if to.Before(from) || to.Sub(from) > report.MaxWindow {
		return from, to, errors.New("the window must end after it starts and span at most 5 years")
	}
	return from, to, nil
}

// ownerPage is the body of the overview template.
type ownerPage struct {
	S                       report.Stats
	From, To                string // the window, as dates
	Query                   string // ?from=&to= to carry to links
	Days, Outstanding, Week chart
	Alerts                  []countOf
	Refused                 []countOf
	IsAdmin                 bool
}

func (u *UI) stats(w http.ResponseWriter, r *http.Request, s *session) (report.Stats, bool) {
	from, to, err := u.window(r)
	if err != nil {
		u.fail(w, r, s, http.StatusBadRequest, "Window not readable", err.Error(), nil)
		return report.Stats{}, false
	}
	st, err := u.Report.Stats(s.merchant, from, to)
	if err != nil {
		u.internal(w, r, s, err)
		return report.Stats{}, false
	}
	return st, true
}

func (u *UI) overview(w http.ResponseWriter, r *http.Request, _ string, s *session) {
	st, ok := u.stats(w, r, s)
	if !ok {
		return
	}
	p := ownerPage{S: st, From: st.From.Format(time.DateOnly), To: st.To.AddDate(0, 0, -1).Format(time.DateOnly), IsAdmin: s.role == access.Admin}
	p.Query = "?from=" + p.From + "&to=" + p.To
	labels := make([]string, len(st.Days))
	stamps, redemptions, outstanding := make([]int, len(st.Days)), make([]int, len(st.Days)), make([]int, len(st.Days))
	for i, d := range st.Days {
		labels[i] = d.Day[5:] // MM-DD
		stamps[i], redemptions[i], outstanding[i] = d.Stamps, d.Redemptions, d.RewardsOutstanding
	}
	p.Days = chart{ID: "chart-days", Title: "Stamps and redemptions per day", Labels: labels,
		Series: []series{{Name: "stamps", Class: "s-stamps", Values: stamps}, {Name: "redemptions", Class: "s-redemptions", Values: redemptions}}}
	p.Outstanding = chart{ID: "chart-outstanding", Title: "Rewards outstanding at the end of each day", Labels: labels,
		Series: []series{{Name: "rewards outstanding", Class: "s-outstanding", Values: outstanding}}}
	// Alerts per week: weeks ending on the window's last day.
	var weeks []string
	var perWeek []int
	for end := len(st.Days); end > 0; end -= 7 {
		start := max(end-7, 0)
		n := 0
		for _, d := range st.Days[start:end] {
			n += d.Alerts
		}
		weeks = append([]string{st.Days[start].Day[5:]}, weeks...)
		perWeek = append([]int{n}, perWeek...)
	}
	p.Week = chart{ID: "chart-alerts", Title: "Alerts raised per week (week starting)", Labels: weeks, Bars: true,
		Series: []series{{Name: "alerts", Class: "s-alerts", Values: perWeek}}}
	p.Alerts, p.Refused = sorted(st.Alerts), sorted(st.Refused)
	u.render(w, r, http.StatusOK, "owner", view{Title: "Overview", Session: u.sessionView(s), Page: p})
}

// sorted lists counts by name, most first, then by name.
func sorted(m map[string]int) []countOf {
	out := make([]countOf, 0, len(m))
	for k, n := range m {
		out = append(out, countOf{k, n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].N != out[j].N {
			return out[i].N > out[j].N
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// programsPage is the body of the programs template.
type programsPage struct {
	Programs []credential.Program
	IsAdmin  bool
	Form     programForm
}

type programForm struct {
	ID, Stamps, Reward, ValidDays, Amount, Currency string
}

// maxListed bounds the programs and keys a page lists.
const maxListed = 500

func (u *UI) programsPage(w http.ResponseWriter, r *http.Request, _ string, s *session) {
	u.showPrograms(w, r, s, http.StatusOK, programForm{Stamps: "10", ValidDays: "30", Currency: "EUR"}, "")
}

func (u *UI) showPrograms(w http.ResponseWriter, r *http.Request, s *session, status int, f programForm, problem string) {
	list, _, err := u.Programs.Programs(s.merchant, "", maxListed)
	if err != nil {
		u.internal(w, r, s, err)
		return
	}
	u.render(w, r, status, "programs", view{Title: "Programs", Session: u.sessionView(s), Error: problem,
		Flash: s.flash, Page: programsPage{Programs: list, IsAdmin: s.role == access.Admin, Form: f}})
}

func (u *UI) createProgram(w http.ResponseWriter, r *http.Request, id string, s *session) {
	if s.role != access.Admin {
		u.fail(w, r, s, http.StatusForbidden, "Admins only", "Only an admin key of this merchant can create programs.", nil)
		return
	}
	f := programForm{ID: strings.TrimSpace(r.PostFormValue("id")), Stamps: r.PostFormValue("stamps_required"),
		Reward: strings.TrimSpace(r.PostFormValue("reward")), ValidDays: r.PostFormValue("valid_days"),
		Amount: strings.TrimSpace(r.PostFormValue("amount")), Currency: strings.TrimSpace(r.PostFormValue("currency"))}
	stamps, err1 := strconv.Atoi(f.Stamps)
	days, err2 := strconv.Atoi(f.ValidDays)
	if err1 != nil || err2 != nil {
		u.showPrograms(w, r, s, http.StatusBadRequest, f, "Stamps required and days valid must be whole numbers.")
		return
	}
	p := credential.Program{Merchant: s.merchant, ID: f.ID, StampsRequired: stamps, Reward: f.Reward,
		RewardValidFor: time.Duration(days) * 24 * time.Hour, Limits: credential.DefaultLimits}
	if f.Amount != "" {
		v, err := parseMoney(f.Amount, f.Currency)
		if err != nil {
			u.showPrograms(w, r, s, http.StatusBadRequest, f, err.Error())
			return
		}
		p.Value = &v
	}
	if _, err := u.Programs.CreateProgram(p); err != nil {
		switch {
		case errors.Is(err, issuer.ErrProgramExists):
			u.showPrograms(w, r, s, http.StatusConflict, f, "A program with this id exists already.")
		case errors.Is(err, issuer.ErrInvalid):
			u.showPrograms(w, r, s, http.StatusBadRequest, f, "The program was not created: "+strings.TrimPrefix(err.Error(), issuer.ErrInvalid.Error()+": ")+".")
		default:
			u.internal(w, r, s, err)
		}
		return
	}
	u.log.Info("ui program created", "key_id", s.keyID, "merchant", s.merchant, "program", p.ID)
	u.sessions.setFlash(id, "Program "+p.ID+" created.")
	seeOther(w, r, Prefix+"owner/programs")
}

// parseMoney reads "3.50" and "EUR" as 350 minor units of EUR.
func parseMoney(amount, currency string) (credential.Value, error) {
	whole, frac, _ := strings.Cut(amount, ".")
	if len(frac) > 2 {
		return credential.Value{}, errors.New("the value takes at most two decimals, like 3.50")
	}
	frac += strings.Repeat("0", 2-len(frac))
	w, err1 := strconv.ParseInt(whole, 10, 64)
	c, err2 := strconv.ParseInt(frac, 10, 64)
	if err1 != nil || err2 != nil || w < 0 || c < 0 || w > credential.MaxAmount/100 {
		return credential.Value{}, errors.New("the value must be an amount like 3.50")
	}
	v := credential.Value{Amount: w*100 + c, Currency: strings.ToUpper(currency)}
	if err := v.Validate(); err != nil {
		return credential.Value{}, errors.New("the currency must be a three-letter ISO 4217 code like EUR")
	}
	return v, nil
}

// money shows values like "7.00 EUR, 3.50 USD"; minor units are cents.
func money(vs []credential.Value) string {
	if len(vs) == 0 {
		return "–"
	}
	parts := make([]string, len(vs))
	for i, v := range vs {
		sign := ""
		a := v.Amount
		if a < 0 {
			sign, a = "-", -a
		}
		parts[i] = fmt.Sprintf("%s%d.%02d %s", sign, a/100, a%100, v.Currency)
	}
	return strings.Join(parts, ", ")
}

func percent(r float64) string { return strconv.FormatFloat(r*100, 'f', 1, 64) + "%" }

func (u *UI) campaignsPage(w http.ResponseWriter, r *http.Request, _ string, s *session) {
	st, ok := u.stats(w, r, s)
	if !ok {
		return
	}
	p := ownerPage{S: st, From: st.From.Format(time.DateOnly), To: st.To.AddDate(0, 0, -1).Format(time.DateOnly)}
	p.Query = "?from=" + p.From + "&to=" + p.To
	u.render(w, r, http.StatusOK, "campaigns", view{Title: "Campaigns", Session: u.sessionView(s), Page: p})
}

// keysPage is the body of the keys template.
type keysPage struct {
	Keys     []access.KeyInfo
	NewToken string // shown once, right after creation
	NewName  string
}

func (u *UI) adminOnly(w http.ResponseWriter, r *http.Request, s *session) bool {
	if s.role != access.Admin {
		u.fail(w, r, s, http.StatusForbidden, "Admins only", "Only an admin key of this merchant can see and change its API keys.", nil)
		return false
	}
	return true
}

func (u *UI) keysPage(w http.ResponseWriter, r *http.Request, _ string, s *session) {
	if u.adminOnly(w, r, s) {
		u.showKeys(w, r, s, http.StatusOK, keysPage{}, "")
	}
}

func (u *UI) showKeys(w http.ResponseWriter, r *http.Request, s *session, status int, p keysPage, problem string) {
	list, err := u.Access.Keys(s.merchant)
	if err != nil {
		u.internal(w, r, s, err)
		return
	}
	p.Keys = list
	u.render(w, r, status, "keys", view{Title: "API keys", Session: u.sessionView(s), Flash: s.flash, Error: problem, Page: p})
}

func (u *UI) createKey(w http.ResponseWriter, r *http.Request, _ string, s *session) {
	if !u.adminOnly(w, r, s) {
		return
	}
	role := access.Role(r.PostFormValue("role"))
	name := strings.TrimSpace(r.PostFormValue("name"))
	k, token, err := u.Access.CreateKeyAs(actor(r, s), access.KeySpec{Merchant: s.merchant, Role: role, Name: name})
	if errors.Is(err, access.ErrInvalid) {
		u.showKeys(w, r, s, http.StatusBadRequest, keysPage{}, "The key was not created: choose a role and a name of at most 100 characters.")
		return
	}
	if err != nil {
		u.internal(w, r, s, err)
		return
	}
	u.log.Info("ui api key created", "key_id", s.keyID, "merchant", s.merchant, "new_key_id", k.ID, "role", k.Role)
	// The token is shown in this answer only; it is never stored.
	u.showKeys(w, r, s, http.StatusCreated, keysPage{NewToken: token, NewName: k.Name}, "")
}

func (u *UI) revokeKey(w http.ResponseWriter, r *http.Request, id string, s *session) {
	if !u.adminOnly(w, r, s) {
		return
	}
	keyID := mux.Vars(r)["id"]
	k, err := u.Access.Key(keyID)
	if err != nil || k.Merchant != s.merchant {
		u.fail(w, r, s, http.StatusNotFound, "No such key", "This merchant has no API key with that id.", err)
		return
	}
	if _, err := u.Access.Revoke(actor(r, s), keyID, strings.TrimSpace(r.PostFormValue("reason"))); err != nil {
		if errors.Is(err, access.ErrInvalid) {
			u.showKeys(w, r, s, http.StatusBadRequest, keysPage{}, "The reason must be at most 500 characters.")
			return
		}
		u.internal(w, r, s, err)
		return
	}
	u.log.Info("ui api key revoked", "key_id", s.keyID, "merchant", s.merchant, "revoked_key_id", keyID)
	u.sessions.setFlash(id, "Key "+k.Name+" revoked: it is refused from its next request on.")
	seeOther(w, r, Prefix+"owner/keys")
}

// export writes one table as CSV.
func (u *UI) export(w http.ResponseWriter, r *http.Request, _ string, s *session) {
	table := mux.Vars(r)["table"]
	var rows [][]string
	switch table {
	case "figures", "days", "registers", "campaigns", "refused", "alerts":
		st, ok := u.stats(w, r, s)
		if !ok {
			return
		}
		rows = statsTable(table, st)
	case "programs":
		list, _, err := u.Programs.Programs(s.merchant, "", maxListed)
		if err != nil {
			u.internal(w, r, s, err)
			return
		}
		rows = [][]string{{"id", "stamps_required", "reward", "reward_valid_for", "value_amount", "value_currency", "created_at"}}
		for _, p := range list {
			amount, currency := "", ""
			if p.Value != nil {
				amount, currency = strconv.FormatInt(p.Value.Amount, 10), p.Value.Currency
			}
			rows = append(rows, []string{p.ID, strconv.Itoa(p.StampsRequired), p.Reward, p.RewardValidFor.String(), amount, currency, p.CreatedAt.Format(time.RFC3339)})
		}
	case "keys":
		if !u.adminOnly(w, r, s) {
			return
		}
		list, err := u.Access.Keys(s.merchant)
		if err != nil {
			u.internal(w, r, s, err)
			return
		}
		rows = [][]string{{"id", "name", "role", "created_at", "last_used_at", "expires_at", "revoked_at"}}
		for _, k := range list {
			rows = append(rows, []string{k.ID, k.Name, string(k.Role), k.CreatedAt.Format(time.RFC3339), optTime(k.LastUsedAt), optTime(k.ExpiresAt), optTime(k.RevokedAt)})
		}
	default:
		u.fail(w, r, s, http.StatusNotFound, "No such table", "There is no table of that name to export.", nil)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%s.csv"`, s.merchant, table))
	if r.Method == http.MethodHead {
		return
	}
	cw := csv.NewWriter(w)
	for _, row := range rows {
		for i, c := range row {
			row[i] = csvSafe(c)
		}
		cw.Write(row)
	}
	cw.Flush()
}

// csvSafe keeps a spreadsheet from reading a cell as a formula: names and
// offers are typed by people.
func csvSafe(c string) string {
	if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
		if _, err := strconv.ParseFloat(c, 64); err != nil {
			return "'" + c
		}
	}
	return c
}

func optTime(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func statsTable(table string, st report.Stats) [][]string {
	itoa, ftoa := strconv.Itoa, func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
	switch table {
	case "figures":
		median := ""
		if st.MedianDaysBetweenVisits != nil {
			median = ftoa(*st.MedianDaysBetweenVisits)
		}
		return [][]string{{"figure", "value"},
			{"from", st.From.Format(time.DateOnly)}, {"to", st.To.AddDate(0, 0, -1).Format(time.DateOnly)},
			{"cards_issued", itoa(st.CardsIssued)}, {"active_cards", itoa(st.ActiveCards)}, {"stamps", itoa(st.Stamps)},
			{"rewards_earned", itoa(st.RewardsEarned)}, {"rewards_redeemed", itoa(st.RewardsRedeemed)},
			{"rewards_outstanding", itoa(st.RewardsOutstanding)}, {"rewards_outstanding_value", money(st.RewardsOutstandingValue)},
			{"coupons_issued", itoa(st.CouponsIssued)}, {"coupons_redeemed", itoa(st.CouponsRedeemed)},
			{"redemption_rate", ftoa(st.RedemptionRate)}, {"repeat_visit_rate", ftoa(st.RepeatVisitRate)},
			{"median_days_between_visits", median}, {"blocked_cards", itoa(st.BlockedCards)}, {"refused_value", money(st.RefusedValue)}}
	case "days":
		rows := [][]string{{"day", "cards_issued", "stamps", "redemptions", "rewards_outstanding", "alerts", "refused"}}
		for _, d := range st.Days {
			rows = append(rows, []string{d.Day, itoa(d.CardsIssued), itoa(d.Stamps), itoa(d.Redemptions), itoa(d.RewardsOutstanding), itoa(d.Alerts), itoa(d.Refused)})
		}
		return rows
	case "registers":
		rows := [][]string{{"register", "stamps", "redemptions"}}
		for _, r := range st.Registers {
			rows = append(rows, []string{r.Register, itoa(r.Stamps), itoa(r.Redemptions)})
		}
		return rows
	case "campaigns":
		rows := [][]string{{"offer", "coupons_issued", "coupons_redeemed", "redemption_rate", "redeemed_value"}}
		for _, c := range st.Campaigns {
			rows = append(rows, []string{c.Offer, itoa(c.CouponsIssued), itoa(c.CouponsRedeemed), ftoa(c.RedemptionRate), money(c.RedeemedValue)})
		}
		return rows
	case "refused":
		rows := [][]string{{"reason", "count"}}
		for _, c := range sorted(st.Refused) {
			rows = append(rows, []string{c.Name, itoa(c.N)})
		}
		return rows
	default: // alerts
		rows := [][]string{{"kind", "count"}}
		for _, c := range sorted(st.Alerts) {
			rows = append(rows, []string{c.Name, itoa(c.N)})
		}
		return rows
	}
}

// pickPage is the body of the merchant picker.
type pickPage struct {
	Merchants []access.Merchant
	Current   string
}

func (u *UI) pickMerchantPage(w http.ResponseWriter, r *http.Request, _ string, s *session) {
	if !s.anyMerchant {
		seeOther(w, r, Prefix+"owner")
		return
	}
	list, err := u.Access.Merchants()
	if err != nil {
		u.internal(w, r, s, err)
		return
	}
	v := u.sessionView(s)
	u.render(w, r, http.StatusOK, "merchant", view{Title: "Pick a merchant", Session: v, Page: pickPage{Merchants: list, Current: s.merchant}})
}

func (u *UI) pickMerchant(w http.ResponseWriter, r *http.Request, id string, s *session) {
	if !s.anyMerchant {
		u.fail(w, r, s, http.StatusForbidden, "Not allowed", "Only the all-merchants admin picks a merchant.", nil)
		return
	}
	m, err := u.Access.Merchant(r.PostFormValue("merchant"))
	if err != nil {
		u.fail(w, r, s, http.StatusNotFound, "No such merchant", "There is no merchant with that id.", err)
		return
	}
	u.sessions.setMerchant(id, m.ID, m.Name)
	u.log.Info("ui merchant picked", "key_id", s.keyID, "merchant", m.ID)
	seeOther(w, r, Prefix+"owner")
}

// setMerchant points the all-merchants admin's session at one merchant.
func (s *sessions) setMerchant(id, merchant, name string) {
	h := sha256.Sum256([]byte(id))
	s.mu.Lock()
	defer s.mu.Unlock()
	if v := s.m[h]; v != nil && v.anyMerchant {
		v.merchant, v.merchantName = merchant, name
	}
}
