// Package component is the gateway's XMPP side: a XEP-0114 external
// component that asks people to confirm HTTP requests with XEP-0070
// (HTTP authentication via XMPP), and answers what a good component must:
// XEP-0030 service discovery, XEP-0199 ping, XEP-0092 software version,
// and presence subscriptions (RFC 6121).
//
// In client mode (Options.Account) it logs in as an ordinary account
// instead (RFC 6120 c2s: STARTTLS, SASL SCRAM or PLAIN, resource binding,
// initial presence; client.go and scram.go) and does all the same on that
// stream.
//
// It is the only package that imports gosrc.io/xmpp. It uses the library's
// stanza types (stanza.IQ, stanza.Message, stanza.Presence, the disco and
// version payloads) and its type registry, and works around the faults of
// v0.5.1, the only version served:
//
//   - xmpp.Component cannot be driven by StreamManager, its recv loop can
//     block for ever on a server-side </stream:stream> (it sends on an
//     unbuffered channel nobody reads unless Disconnect is waiting), its
//     writes are not locked, and Resume replaces the transport with no
//     synchronisation. None of this can be mended from outside, so stream.go
//     writes the XEP-0114 stream and handshake itself (on net.Conn and
//     encoding/xml) and conn.go adds liveness pings and reconnection.
//   - xmpp.Client has the same reader and writer faults (its recv loop
//     blocks for ever on a server-side </stream:stream>, the same
//     unbuffered channel, and stalls in its own Disconnect on a stream
//     error; writes are not locked; nothing bounds a stanza's size), and
//     its login does only SASL PLAIN, loses the SASL failure condition
//     (stanza.SASLFailure's Any field has no tag) and misreads an
//     optional RFC 3921 session (StreamSession.Optional has no tag
//     either). So client.go writes the client login itself on the
//     same stream type as the component (one reader, one locked writer),
//     with SCRAM-SHA-1/-256 of its own (scram.go, RFC 5802 and RFC 7677),
//     and uses only the library's types that decode right
//     (stanza.StreamFeatures for STARTTLS, mechanisms and bind;
//     stanza.SASLAuth; stanza.Bind; stanza.StreamSession).
//   - SendIQ matches replies on the stanza id alone and routes them through
//     a channel that can block the reader. transactions.go keys answers by
//     (transaction id, bare JID), checks the sender, and hands each result
//     to a buffered channel, so nothing can block the reader.
//   - stanza.Jid.Bare misprints domain-only JIDs ("@example.org"); JIDs are
//     parsed and normalised by auth.ParseJID instead.
//   - stanza.Attrs.Lang is written as lang, not xml:lang: it is never set;
//     message bodies carry xml:lang through the body type of confirm.go.
//   - stanza.Err with Code == 0 marshals to nothing: error replies always
//     set the legacy code (errorReply in manners.go).
//   - stanza.Message holds one body and stanza.Err keeps a condition only
//     in the RFC 6120 namespace: incoming stanzas are decoded by the lenient
//     types of answer.go instead, which see every body and every error.
//
// Each workaround has a test in workaround_test.go that fails if it stops
// holding.
package component
