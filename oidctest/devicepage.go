package oidctest

import (
	"fmt"
	"html/template"
	"net/http"
)

// devicePage is the RFC 8628 verification page: GET shows a form for the
// user code (prefilled from ?user_code=), the user's credentials and
// approve or deny buttons; POST checks the password and answers the
// device authorization.
func (s *Server) devicePage(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		s.deviceForm(w, r.Form.Get("user_code"))
	case http.MethodPost:
		s.deviceDecision(w, r)
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

func (s *Server) deviceDecision(w http.ResponseWriter, r *http.Request) {
	form := r.PostForm
	u, ok := s.checkPassword(form.Get("username"), form.Get("password"))
	if !ok {
		errorPage(w, http.StatusBadRequest, "access_denied", "wrong username or password")
		return
	}
	var approve bool
	switch form.Get("action") {
	case "approve":
		approve = true
	case "deny":
	default:
		errorPage(w, http.StatusBadRequest, "invalid_request", "action must be approve or deny")
		return
	}
	if err := s.decideDevice(form.Get("user_code"), u.Subject, approve); err != nil {
		errorPage(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	message := "The device is signed in. You can return to it now."
	if !approve {
		message = "The device was denied access."
	}
	htmlHeaders(w, http.StatusOK)
	_ = deviceDoneTemplate.Execute(w, message)
}

func (s *Server) deviceForm(w http.ResponseWriter, userCode string) {
	htmlHeaders(w, http.StatusOK)
	hint := ""
	if len(s.users) > 0 && s.users[0].Username != "" {
		hint = fmt.Sprintf("Demo account: %s / %s", s.users[0].Username, s.users[0].Password)
	}
	_ = deviceTemplate.Execute(w, struct {
		Action, UserCode, Hint string
	}{s.Issuer + "/device", userCode, hint})
}

func htmlHeaders(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
}

var (
	deviceTemplate = template.Must(template.New("device").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Connect a device</title>
<style>body{font-family:system-ui,sans-serif;max-width:22rem;margin:4rem auto}
label,input,button{display:block;width:100%;margin:.4rem 0}input{padding:.4rem}
.hint{color:#555;font-size:.9rem}</style></head>
<body><h1>Connect a device</h1>
<form method="post" action="{{.Action}}">
<label>Code shown on the device <input name="user_code" value="{{.UserCode}}" autocomplete="off" autofocus></label>
<label>Username <input name="username" autocomplete="username"></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit" name="action" value="approve">Approve</button>
<button type="submit" name="action" value="deny">Deny</button>
</form>
{{if .Hint}}<p class="hint">{{.Hint}}</p>{{end}}
</body></html>
`))

	deviceDoneTemplate = template.Must(template.New("device_done").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Device</title></head>
<body><p>{{.}}</p></body></html>
`))
)
