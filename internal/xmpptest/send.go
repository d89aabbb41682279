package xmpptest

import (
	"encoding/xml"
	"fmt"
)

// builder appends XML to a reused buffer. Every value that comes from
// outside (JIDs, ids, urls, bodies) goes through text, which uses
// encoding/xml's escaping whenever a byte needs it; element and attribute
// names are constants or validated.
type builder struct{ b []byte }

// Write lets xml.EscapeText append to the buffer.
func (w *builder) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

func (w *builder) raw(s string) { w.b = append(w.b, s...) }

// text appends s escaped for character data or a single-quoted attribute.
func (w *builder) text(s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '&' || c == '<' || c == '>' || c == '\'' || c == '"' {
			// Slow path: escapes markup and quotes, replaces characters
			// XML cannot carry, and keeps \t \n \r as character references
			// so attribute values survive normalisation.
			_ = xml.EscapeText(w, []byte(s))
			return
		}
	}
	w.b = append(w.b, s...)
}

func (w *builder) attr(name, value string) {
	w.b = append(w.b, ' ')
	w.b = append(w.b, name...)
	w.b = append(w.b, '=', '\'')
	w.text(value)
	w.b = append(w.b, '\'')
}

// optAttr writes the attribute only when value is not empty.
func (w *builder) optAttr(name, value string) {
	if value != "" {
		w.attr(name, value)
	}
}

// begin locks the writer and opens a stanza; end writes it and unlocks.
// A component must name itself as the sender of everything it sends.
func (c *Client) begin(name string) *builder {
	c.wmu.Lock()
	w := &c.w
	w.b = append(w.b[:0], '<')
	w.raw(name)
	if c.component {
		w.attr("from", c.jid)
	}
	return w
}

func (c *Client) end() error {
	err := c.write(c.w.b)
	c.wmu.Unlock()
	return err
}

// confirm echoes the request's <confirm/>.
func (w *builder) confirm(id, method, url string) {
	w.raw("<confirm xmlns='" + NSHTTPAuth + "'")
	w.attr("id", id)
	w.optAttr("method", method)
	w.optAttr("url", url)
	w.raw("/>")
}

func (w *builder) thread(t string) {
	if t != "" {
		w.raw("<thread>")
		w.text(t)
		w.raw("</thread>")
	}
}

// notAuthorized is the refusal of XEP-0070 examples 5 and 9 (with the legacy
// code the XEP shows).
const notAuthorized = "<error code='401' type='auth'><not-authorized xmlns='" + NSStanzas + "'/></error>"

// ApproveIQ accepts an iq-delivered request (XEP-0070 section 4.2): an empty
// iq result to the sender with the request's id.
func (c *Client) ApproveIQ(s Stanza) error {
	w := c.begin("iq")
	w.raw(" type='result'")
	w.attr("to", s.From)
	w.attr("id", s.ID)
	w.raw("/>")
	return c.end()
}

// DenyIQ refuses an iq-delivered request: an iq error with the <confirm/>
// echoed and <not-authorized/>, as in XEP-0070 example 5.
func (c *Client) DenyIQ(s Stanza) error {
	w := c.begin("iq")
	w.raw(" type='error'")
	w.attr("to", s.From)
	w.attr("id", s.ID)
	w.raw(">")
	if s.HasConfirm() {
		w.confirm(s.ConfirmID(), s.Method(), s.URL())
	}
	w.raw(notAuthorized + "</iq>")
	return c.end()
}

// ErrorIQ answers an iq with an error of the given defined condition
// (RFC 6120 8.3.3), such as "service-unavailable" or
// "feature-not-implemented", the way a client without XEP-0070 does. The
// error type is the one RFC 6120 recommends for the condition.
func (c *Client) ErrorIQ(s Stanza, condition string) error {
	typ, ok := conditionTypes[condition]
	if !ok {
		return fmt.Errorf("xmpptest: %q is not an RFC 6120 stanza error condition", condition)
	}
	w := c.begin("iq")
	w.raw(" type='error'")
	w.attr("to", s.From)
	w.attr("id", s.ID)
	w.raw("><error type='" + typ + "'><" + condition + " xmlns='" + NSStanzas + "'/></error></iq>")
	return c.end()
}

// conditionTypes maps each RFC 6120 stanza error condition to its usual
// error type; it also keeps anything but a known condition out of element
// names.
var conditionTypes = map[string]string{
	"bad-request":             "modify",
	"conflict":                "cancel",
	"feature-not-implemented": "cancel",
	"forbidden":               "auth",
	"gone":                    "cancel",
	"internal-server-error":   "wait",
	"item-not-found":          "cancel",
	"jid-malformed":           "modify",
	"not-acceptable":          "modify",
	"not-allowed":             "cancel",
	"not-authorized":          "auth",
	"policy-violation":        "modify",
	"recipient-unavailable":   "wait",
	"redirect":                "modify",
	"registration-required":   "auth",
	"remote-server-not-found": "cancel",
	"remote-server-timeout":   "wait",
	"resource-constraint":     "wait",
	"service-unavailable":     "cancel",
	"subscription-required":   "auth",
	"undefined-condition":     "cancel",
	"unexpected-request":      "wait",
}

// ApproveMessage accepts a message-delivered request (XEP-0070 section 5):
// a message back to the sender with the same <thread/> and the <confirm/>
// copied, of the request's type.
func (c *Client) ApproveMessage(s Stanza) error {
	w := c.begin("message")
	if s.Type != "" && s.Type != "error" {
		w.attr("type", s.Type)
	}
	w.attr("to", s.From)
	w.attr("id", c.NewID())
	w.raw(">")
	w.thread(s.Thread())
	w.confirm(s.ConfirmID(), s.Method(), s.URL())
	w.raw("</message>")
	return c.end()
}

// DenyMessage refuses a message-delivered request: a message of type error
// with the request's id, thread and <confirm/>, and <not-authorized/>, as in
// XEP-0070 example 9.
func (c *Client) DenyMessage(s Stanza) error {
	w := c.begin("message")
	w.raw(" type='error'")
	w.attr("to", s.From)
	w.optAttr("id", s.ID)
	w.raw(">")
	w.thread(s.Thread())
	w.confirm(s.ConfirmID(), s.Method(), s.URL())
	w.raw(notAuthorized + "</message>")
	return c.end()
}

// SendMessage sends a plain-text chat message, as a person without XEP-0070
// support answering with the code would.
func (c *Client) SendMessage(to, body string) error {
	w := c.begin("message")
	w.raw(" type='chat'")
	w.attr("to", to)
	w.attr("id", c.NewID())
	w.raw("><body>")
	w.text(body)
	w.raw("</body></message>")
	return c.end()
}

// SendConfirmMessage sends a message carrying an arbitrary <confirm/>, to
// forge answers (or requests) in tests. An empty typ omits the type.
func (c *Client) SendConfirmMessage(to, id, method, url, typ string) error {
	w := c.begin("message")
	w.optAttr("type", typ)
	w.attr("to", to)
	w.attr("id", c.NewID())
	w.raw(">")
	w.confirm(id, method, url)
	w.raw("</message>")
	return c.end()
}

// SendConfirmIQ sends a XEP-0070 request as an iq get with a <confirm/> and
// returns the iq's id (the answer carries it).
func (c *Client) SendConfirmIQ(to, confirmID, method, url string) (string, error) {
	id := c.NewID()
	w := c.begin("iq")
	w.raw(" type='get'")
	w.attr("to", to)
	w.attr("id", id)
	w.raw(">")
	w.confirm(confirmID, method, url)
	w.raw("</iq>")
	return id, c.end()
}

// SendConfirmIQWithID is SendConfirmIQ with the iq's stanza id chosen by
// the caller, who can then be waiting for the answer before it is sent
// (benchmarks match answers to waiters by id).
func (c *Client) SendConfirmIQWithID(to, id, confirmID, method, url string) error {
	w := c.begin("iq")
	w.raw(" type='get'")
	w.attr("to", to)
	w.attr("id", id)
	w.raw(">")
	w.confirm(confirmID, method, url)
	w.raw("</iq>")
	return c.end()
}

// SendPing sends a XEP-0199 ping and returns its id.
func (c *Client) SendPing(to string) (string, error) {
	id := c.NewID()
	w := c.begin("iq")
	w.raw(" type='get'")
	w.optAttr("to", to)
	w.attr("id", id)
	w.raw("><ping xmlns='" + NSPing + "'/></iq>")
	return id, c.end()
}
