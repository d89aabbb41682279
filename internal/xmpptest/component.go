package xmpptest

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
)

// DialComponent connects to a server's XEP-0114 component port as domain
// with the shared secret. The Client then sends and receives as that
// component: every stanza it builds carries from=domain. Tests use it to see
// what the server sends a component (bounces, errors) without the gateway.
func DialComponent(ctx context.Context, addr, domain, secret string) (*Client, error) {
	c, stop, err := connect(ctx, addr, 0)
	if err != nil {
		return nil, err
	}
	c.component = true
	c.jid = domain
	if err := c.handshake(domain, secret); err != nil {
		return nil, c.abort(ctx, stop, err)
	}
	if err := c.finishDial(ctx, stop); err != nil {
		return nil, err
	}
	go c.readLoop()
	return c, nil
}

func (c *Client) handshake(domain, secret string) error {
	c.w.b = c.w.b[:0]
	c.w.raw("<?xml version='1.0'?><stream:stream xmlns='" + NSComponent + "' xmlns:stream='" + NSStream + "'")
	c.w.attr("to", domain)
	c.w.raw(">")
	if err := c.write(c.w.b); err != nil {
		return err
	}
	id, err := c.readHeader()
	if err != nil {
		return err
	}
	// XEP-0114 section 3: hex SHA-1 of the stream id followed by the secret.
	sum := sha1.Sum([]byte(id + secret))
	if err := c.SendRaw("<handshake>" + hex.EncodeToString(sum[:]) + "</handshake>"); err != nil {
		return err
	}
	var st Stanza
	if err := c.readNegotiation(&st); err != nil {
		return fmt.Errorf("xmpptest: component handshake as %s: %w", domain, err)
	}
	if st.Name != "handshake" {
		return fmt.Errorf("xmpptest: component handshake as %s: unexpected %s", domain, st.Raw)
	}
	return nil
}
