// Package auth holds the domain of the gateway, shared by the HTTP side and
// the XMPP side: a confirmation request, the outcomes a caller branches on,
// JIDs normalised per RFC 7622, and transaction ids.
//
// It imports nothing of the project's; httpapi and component both build on
// it, so neither has to import the other (the gateway's domain sits at the
// centre, its implementations around it).
package auth
