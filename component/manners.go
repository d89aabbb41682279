package component

import (
	"encoding/xml"
	"runtime"

	"gosrc.io/xmpp/stanza"

	"github.com/xmpp-http-auth/http-auth/auth"
)

const (
	nsDiscoInfo  = "http://jabber.org/protocol/disco#info"
	nsDiscoItems = "http://jabber.org/protocol/disco#items"
	nsPing       = "urn:xmpp:ping"
	nsVersion    = "jabber:iq:version"
	nsRoster     = "jabber:iq:roster"
)

// handle routes one incoming stanza. It runs on the reader goroutine and
// never blocks on anything but a (bounded) write of a reply.
func (g *Gateway) handle(s *stream, in *inStanza) {
	if in.malformed {
		g.log.Warn("ignored a stanza with a repeated attribute", "from", in.From, "id", in.ID)
		return
	}
	switch in.XMLName.Local {
	case "iq":
		switch in.Type {
		case "result", "error":
			if p, ok := g.pongs.Load(in.ID); ok {
				select {
				case p.(chan struct{}) <- struct{}{}:
				default:
				}
				return
			}
			g.answerIQ(in)
		case "get", "set":
			g.serveIQ(s, in)
		}
	case "message":
		g.answerMessage(in)
	case "presence":
		g.presence(s, in)
	}
}

// answerIQ takes an iq answer: it counts only from exactly the full JID
// our iq went to, with our stanza id.
func (g *Gateway) answerIQ(in *inStanza) {
	x, isIQ, full, _ := g.txns.byStanzaID(in.ID)
	if x == nil || !isIQ {
		if in.From == g.opts.PingTo && in.Type == "result" {
			// A pong we did not ask for: ejabberd accepts a second
			// connection for the same component domain and spreads
			// stanzas over both, so answers go astray.
			g.log.Warn("an answer to a ping that is not awaited: a late pong, or a second gateway connected for this component domain?", "from", in.From, "id", in.ID)
			return
		}
		g.log.Debug("ignored an iq answer that matches no request", "from", in.From, "id", in.ID)
		return
	}
	// full is the normal form we sent to (auth.JID.String), and a normal
	// form parses to itself (FuzzParseJID): the same bytes are the same
	// JID, so the usual answer costs no PRECIS and IDNA. Anything else is
	// normalised and compared.
	if in.From != full {
		from, err := auth.ParseJID(in.From)
		if err != nil || from.String() != full {
			g.log.Warn("ignored an iq answer from another JID than the one asked", "from", in.From, "jid", full, "txn", x.key.id)
			return
		}
	}
	v := classify(in, true)
	if v == vFallback {
		g.txns.fallBack(x)
		return
	}
	if g.txns.decide(x, v) {
		g.log.Debug("answer", "jid", full, "txn", x.key.id, "outcome", v.String(), "by", "iq")
	}
}

// answerMessage takes a message answer from the asked bare JID: by the id
// of its <confirm/>, else as a bounce of our message, else by a plain-text
// code.
func (g *Gateway) answerMessage(in *inStanza) {
	from, err := auth.ParseJID(in.From)
	if err != nil || from.Local == "" {
		g.log.Debug("ignored a message from an invalid or domain JID", "from", in.From)
		return
	}
	bare := from.Bare()
	if in.Confirm != nil && in.Confirm.ID != "" {
		if x := g.txns.byConfirm(in.Confirm.ID, bare); x != nil {
			g.decide(x, classify(in, false), "confirm")
			return
		}
	}
	_, isErr := in.condition()
	if isErr {
		if x, isIQ, _, xbare := g.txns.byStanzaID(in.ID); x != nil && !isIQ {
			if xbare != bare {
				g.log.Warn("ignored a bounce from another JID than the one asked", "from", in.From, "jid", xbare, "txn", x.key.id)
				return
			}
			g.decide(x, classify(in, false), "bounce")
			return
		}
	} else if in.Confirm == nil {
		if x := g.txns.byCode(bare, in.bodyCode()); x != nil {
			g.decide(x, vApprove, "code")
			return
		}
	}
	g.log.Debug("ignored a message that matches no request", "from", in.From, "id", in.ID)
}

func (g *Gateway) decide(x *txn, v verdict, by string) {
	if g.txns.decide(x, v) {
		g.log.Debug("answer", "jid", x.key.bare, "txn", x.key.id, "outcome", v.String(), "by", by)
	}
}

// serveIQ answers iq get/set addressed to the component: disco#info,
// disco#items, ping and version; service-unavailable for anything else.
func (g *Gateway) serveIQ(s *stream, in *inStanza) {
	reply := stanza.IQ{
		XMLName: xml.Name{Local: "iq"},
		Attrs:   stanza.Attrs{Type: stanza.IQTypeResult, Id: in.ID, From: g.ourJID(in.To), To: in.From},
	}
	var payload xml.Name
	if len(in.Other) > 0 {
		payload = in.Other[0].XMLName
	}
	switch {
	case in.Type == "get" && payload.Space == nsDiscoInfo && payload.Local == "query":
		info := &stanza.DiscoInfo{XMLName: xml.Name{Space: nsDiscoInfo, Local: "query"}, Node: in.Other[0].Node}
		if g.opts.Account != "" {
			info.AddIdentity(g.opts.Name, "client", "bot") // an automated client (XEP-0030 registry)
		} else {
			info.AddIdentity(g.opts.Name, "component", "generic")
		}
		info.AddFeatures(NSHTTPAuth, nsDiscoInfo, nsDiscoItems, nsPing, nsVersion)
		reply.Payload = info
	case in.Type == "get" && payload.Space == nsDiscoItems && payload.Local == "query":
		reply.Payload = &stanza.DiscoItems{XMLName: xml.Name{Space: nsDiscoItems, Local: "query"}, Node: in.Other[0].Node}
	case in.Type == "get" && payload.Space == nsPing && payload.Local == "ping":
	case in.Type == "get" && payload.Space == nsVersion && payload.Local == "query":
		reply.Payload = &stanza.Version{XMLName: xml.Name{Space: nsVersion, Local: "query"},
			Name: g.opts.Name, Version: g.opts.Version, OS: runtime.GOOS}
	case in.Type == "set" && payload.Space == nsRoster && payload.Local == "query" && g.ownAccount(in.From):
		// Client mode: a roster push (RFC 6121 2.1.6), from our own
		// account, after we accept a subscription: acknowledged, not kept.
	default:
		reply.Type = stanza.IQTypeError
		reply.Error = errorReply(stanza.ErrorTypeCancel, "service-unavailable")
	}
	g.reply(s, &reply)
}

// errorReply builds a stanza error that gosrc.io/xmpp will actually write:
// stanza.Err marshals to nothing when Code is 0, so the legacy code that
// matches the condition is always set.
func errorReply(typ stanza.ErrorType, condition string) *stanza.Err {
	code := map[string]int{"service-unavailable": 503, "bad-request": 400, "item-not-found": 404, "feature-not-implemented": 501}[condition]
	if code == 0 {
		code = 500
	}
	return &stanza.Err{Code: code, Type: typ, Reason: condition}
}

// presence accepts subscriptions and answers probes, so people can add the
// gateway to their roster.
func (g *Gateway) presence(s *stream, in *inStanza) {
	from, err := auth.ParseJID(in.From)
	if err != nil {
		return
	}
	us, them := g.ourJID(in.To), from.Bare()
	switch in.Type {
	case "subscribe":
		g.reply(s, &stanza.Presence{XMLName: xml.Name{Local: "presence"}, Attrs: stanza.Attrs{Type: stanza.PresenceTypeSubscribed, From: us, To: them}})
		g.reply(s, &stanza.Presence{XMLName: xml.Name{Local: "presence"}, Attrs: stanza.Attrs{From: us, To: them}})
	case "unsubscribe":
		g.reply(s, &stanza.Presence{XMLName: xml.Name{Local: "presence"}, Attrs: stanza.Attrs{Type: stanza.PresenceTypeUnsubscribed, From: us, To: them}})
	case "probe":
		g.reply(s, &stanza.Presence{XMLName: xml.Name{Local: "presence"}, Attrs: stanza.Attrs{From: us, To: in.From}})
	}
}

// ourJID returns to if it is an address of our domain (the domain or a
// JID at it), else the domain: we never send from outside our domain, which
// a server punishes by closing the stream. In client mode it returns "":
// the server stamps our JID itself.
func (g *Gateway) ourJID(to string) string {
	if g.opts.Account != "" {
		return ""
	}
	if j, err := auth.ParseJID(to); err == nil && j.Domain == g.opts.Domain {
		return to
	}
	return g.opts.Domain
}

// ownAccount reports whether from is our own account in client mode: no
// from at all (the server speaking for it) or its bare JID (RFC 6121
// 2.1.6: only these may push roster items).
func (g *Gateway) ownAccount(from string) bool {
	if g.opts.Account == "" {
		return false
	}
	if from == "" {
		return true
	}
	f, err1 := auth.ParseJID(from)
	a, err2 := auth.ParseJID(g.opts.Account)
	return err1 == nil && err2 == nil && f.String() == a.Bare()
}

func (g *Gateway) reply(s *stream, v any) {
	b, err := xml.Marshal(v)
	if err != nil {
		g.log.Error("cannot build a reply", "err", err)
		return
	}
	if err := s.send(b); err != nil {
		g.log.Debug("cannot send a reply", "err", err)
	}
}

// ping is the XEP-0199 payload.
type ping struct {
	XMLName xml.Name `xml:"urn:xmpp:ping ping"`
}

func (*ping) Namespace() string         { return nsPing }
func (*ping) GetSet() *stanza.ResultSet { return nil }
func pingIQ(from, to, id string) []byte {
	b, _ := xml.Marshal(&stanza.IQ{XMLName: xml.Name{Local: "iq"},
		Attrs: stanza.Attrs{Type: stanza.IQTypeGet, Id: id, From: from, To: to}, Payload: &ping{}})
	return b
}
