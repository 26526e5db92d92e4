package middleware

import "time"

// proof is a parsed DPoP proof, not yet checked against the request.
type proof struct {
	alg      *algorithm
	key      proofKey
	input    string // the signing input: header and payload segments
	sig      string // the signature segment
	jti      string
	htm      string
	htu      string
	ath      string
	nonce    string
	hasNonce bool
	iat      time.Time
}

// proofHeaderMembers are the JSON texts of the header members a proof's
// rules look at; "" when absent.
type proofHeaderMembers struct{ typ, alg, jwk, crit string }

func (m *proofHeaderMembers) set(name, value string) {
	switch name {
	case "typ":
		m.typ = value
	case "alg":
		m.alg = value
	case "jwk":
		m.jwk = value
	case "crit":
		m.crit = value
	}
}

// proofClaimMembers are the JSON texts of the claims a proof's rules look
// at; "" when absent.
type proofClaimMembers struct{ jti, htm, htu, iat, ath, nonce string }

func (m *proofClaimMembers) set(name, value string) {
	switch name {
	case "jti":
		m.jti = value
	case "htm":
		m.htm = value
	case "htu":
		m.htu = value
	case "iat":
		m.iat = value
	case "ath":
		m.ath = value
	case "nonce":
		m.nonce = value
	}
}

// parseProof reads raw, a DPoP proof, and checks its shape, header and
// claim types (step 3 of checkDPoP). Names are case-sensitive, as in
// tokens (see readObject).
func (d *dpopPolicy) parseProof(raw string) (*proof, error) {
	dot1, dot2, err := splitToken(raw)
	if err != nil {
		return nil, errProofShape
	}
	p := &proof{input: raw[:dot2], sig: raw[dot2+1:]}
	if err := d.parseProofHeader(p, raw[:dot1]); err != nil {
		return nil, err
	}
	if err := parseProofClaims(p, raw[dot1+1:dot2]); err != nil {
		return nil, err
	}
	return p, nil
}

func (d *dpopPolicy) parseProofHeader(p *proof, seg string) error {
	text, err := decodeSegment(seg)
	var m proofHeaderMembers
	if err != nil || !readObject(text, m.set) {
		return errProofJSON
	}
	if typ, _ := jsonString(m.typ); typ != "dpop+jwt" {
		return errProofType
	}
	name, _ := jsonString(m.alg)
	for _, a := range d.algorithms {
		if a.name == name {
			p.alg = a
		}
	}
	if p.alg == nil {
		return errProofAlg
	}
	if m.crit != "" {
		return errProofCrit
	}
	if p.key, err = parseProofKey(m.jwk); err != nil {
		return err
	}
	if !p.alg.fits(p.key.pub) {
		return errProofKeyAlg
	}
	return nil
}

func parseProofClaims(p *proof, seg string) error {
	text, err := decodeSegment(seg)
	var m proofClaimMembers
	if err != nil || !readObject(text, m.set) {
		return errProofJSON
	}
	var ok bool
	if p.jti, ok = jsonString(m.jti); !ok || p.jti == "" || len(p.jti) > maxJTIBytes {
		return errProofJTI
	}
	var okHTM, okHTU, okATH bool
	p.htm, okHTM = jsonString(m.htm)
	p.htu, okHTU = jsonString(m.htu)
	p.ath, okATH = jsonString(m.ath)
	p.nonce, p.hasNonce = jsonString(m.nonce)
	if !okHTM || !okHTU || !okATH || m.nonce != "" && !p.hasNonce {
		return errProofClaims
	}
	if p.iat, err = numericDate("iat", m.iat); err != nil || p.iat.IsZero() {
		return errProofIAT
	}
	return nil
}
