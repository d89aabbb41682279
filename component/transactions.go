package component

import (
	"strings"
	"sync"
)

// txnKey identifies a pending transaction: the same code may be pending
// for two people, never twice for one.
type txnKey struct {
	id   string // transaction id, as given
	bare string // normalised bare JID
}

// txn is one pending request. Its fields other than the channels are
// guarded by the table's mutex.
type txn struct {
	key  txnKey
	full string // the full JID an iq went to; "" once asked by message
	// stanza ids of ours that answers may carry: the iq's, the message's.
	iqID, msgID string
	decided     bool

	// result gets exactly one verdict (the table sends at most once, under
	// its lock, into a buffer of one), so a late, duplicate or forged
	// answer never blocks the reader.
	result chan verdict
	// fallback is signalled when the iq was refused and the message form
	// should be sent instead.
	fallback chan struct{}
}

// table holds the pending transactions. It is safe for concurrent use.
type table struct {
	mu      sync.Mutex
	byKey   map[txnKey]*txn
	byStzID map[string]*txn   // our iq and message ids
	byBare  map[string][]*txn // per person, for plain-text codes
	empty   chan struct{}     // closed and replaced when the table empties, for draining
}

func newTable() *table {
	return &table{
		byKey:   make(map[txnKey]*txn),
		byStzID: make(map[string]*txn),
		byBare:  make(map[string][]*txn),
	}
}

// add registers a transaction; ok is false if the key is already pending.
func (t *table) add(id, bare string) (*txn, bool) {
	k := txnKey{id: id, bare: bare}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, dup := t.byKey[k]; dup {
		return nil, false
	}
	x := &txn{key: k, result: make(chan verdict, 1), fallback: make(chan struct{}, 1)}
	t.byKey[k] = x
	t.byBare[bare] = append(t.byBare[bare], x)
	return x, true
}

// bindIQ records that x was asked by an iq with stanza id sid to full.
func (t *table) bindIQ(x *txn, sid, full string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if x.decided {
		return
	}
	x.iqID, x.full = sid, full
	t.byStzID[sid] = x
}

// bindMessage records that x was asked by a message with stanza id sid.
func (t *table) bindMessage(x *txn, sid string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if x.decided {
		return
	}
	x.msgID = sid
	t.byStzID[sid] = x
}

// decide hands v to x's waiter and removes x, unless x was decided before.
// It reports whether v was taken.
func (t *table) decide(x *txn, v verdict) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if x.decided {
		return false
	}
	t.removeLocked(x)
	x.result <- v // buffered, and only ever sent once: never blocks
	return true
}

// fallBack turns an iq transaction into a message one: the iq id stops
// counting and the waiter is told to send the message form.
func (t *table) fallBack(x *txn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if x.decided || x.iqID == "" {
		return false
	}
	delete(t.byStzID, x.iqID)
	x.iqID, x.full = "", ""
	select {
	case x.fallback <- struct{}{}:
	default:
	}
	return true
}

// remove drops x (timeout, cancellation, send failure). Safe to repeat.
func (t *table) remove(x *txn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !x.decided {
		t.removeLocked(x)
	}
}

func (t *table) removeLocked(x *txn) {
	x.decided = true
	delete(t.byKey, x.key)
	if x.iqID != "" {
		delete(t.byStzID, x.iqID)
	}
	if x.msgID != "" {
		delete(t.byStzID, x.msgID)
	}
	list := t.byBare[x.key.bare]
	for i, y := range list {
		if y == x {
			list[i] = list[len(list)-1]
			list[len(list)-1] = nil
			list = list[:len(list)-1]
			break
		}
	}
	if len(list) == 0 {
		delete(t.byBare, x.key.bare)
	} else {
		t.byBare[x.key.bare] = list
	}
	if len(t.byKey) == 0 && t.empty != nil {
		close(t.empty)
		t.empty = nil
	}
}

// byStanzaID returns the transaction asked with our stanza id sid.
func (t *table) byStanzaID(sid string) (x *txn, iq bool, full, bare string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	x = t.byStzID[sid]
	if x == nil {
		return nil, false, "", ""
	}
	return x, sid == x.iqID, x.full, x.key.bare
}

// byConfirm returns the transaction with code id pending for bare.
func (t *table) byConfirm(id, bare string) *txn {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.byKey[txnKey{id: id, bare: bare}]
}

// byCode returns the one transaction of bare whose code equals code,
// case-insensitively; nil if none or more than one fit.
func (t *table) byCode(bare, code string) *txn {
	if code == "" {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var found *txn
	for _, x := range t.byBare[bare] {
		if strings.EqualFold(x.key.id, code) {
			if found != nil {
				return nil
			}
			found = x
		}
	}
	return found
}

// len returns the number of pending transactions.
func (t *table) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byKey)
}

// emptied returns a channel closed once the table is empty.
func (t *table) emptied() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.byKey) == 0 {
		c := make(chan struct{})
		close(c)
		return c
	}
	if t.empty == nil {
		t.empty = make(chan struct{})
	}
	return t.empty
}
