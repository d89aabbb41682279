package component

import (
	"strings"
	"sync"

	"github.com/xmpp-http-auth/http-auth/auth"
)

// txnKey identifies a pending transaction: the same code may be pending
// for two people, never twice for one.
type txnKey struct {
	id   string // transaction id, as given
	bare string // normalised bare JID
}

// txn is one pending request. Its fields other than key, req and done
// are guarded by the table's mutex.
type txn struct {
	key txnKey
	// req is the request, for the message form of a fallback; set before
	// the transaction is bound to a stanza, never changed after.
	req  auth.Request
	full string // the full JID an iq went to; "" once asked by message
	// stanza ids of ours that answers may carry: the iq's, the message's.
	iqID, msgID string
	path        auth.Path // how it was asked: iq, message or fallback
	decided     bool

	// How it ended, once decided: an answer's verdict, or (end != nil)
	// why it ended without one: timeout, cancellation, shutdown, a failed
	// send.
	v   verdict
	end error

	// done is closed when the transaction is decided; notify, when set,
	// is called once after that (Pending.Notify).
	done   chan struct{}
	notify func()
	timer  Timer // the deadline; stopped when decided
}

// table holds the pending transactions. It is safe for concurrent use.
type table struct {
	mu      sync.Mutex
	byKey   map[txnKey]*txn
	byStzID map[string]*txn   // our iq and message ids
	byBare  map[string][]*txn // per person, for plain-text codes
	empty   chan struct{}     // closed and replaced when the table empties, for draining
	// onFallback, when set, is started on its own goroutine when an iq
	// was refused and the message form should be sent instead.
	onFallback func(*txn)
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
	x := &txn{key: k, done: make(chan struct{})}
	t.byKey[k] = x
	t.byBare[bare] = append(t.byBare[bare], x)
	return x, true
}

// setTimer gives x its deadline timer, stopped at once if x has already
// ended.
func (t *table) setTimer(x *txn, tm Timer) {
	t.mu.Lock()
	if !x.decided {
		x.timer = tm
		tm = nil
	}
	t.mu.Unlock()
	if tm != nil {
		tm.Stop()
	}
}

// bindIQ records that x was asked by an iq with stanza id sid to full.
func (t *table) bindIQ(x *txn, sid, full string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if x.decided {
		return
	}
	x.iqID, x.full, x.path = sid, full, auth.PathIQ
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
	if x.path == "" {
		x.path = auth.PathMessage
	}
	t.byStzID[sid] = x
}

// decide ends x with an answer's verdict v, unless x has ended before. It
// reports whether v was taken. It never blocks on x's waiter, so a late,
// duplicate or forged answer cannot hold the reader.
func (t *table) decide(x *txn, v verdict) bool { return t.conclude(x, v, nil) }

// end ends x without an answer: err says why (timeout, cancellation,
// shutdown, a failed send). It reports whether x was still pending.
func (t *table) end(x *txn, err error) bool { return t.conclude(x, 0, err) }

func (t *table) conclude(x *txn, v verdict, err error) bool {
	t.mu.Lock()
	if x.decided {
		t.mu.Unlock()
		return false
	}
	x.v, x.end = v, err
	t.finishLocked(x) // unlocks
	return true
}

// endAll ends every pending transaction with err (the end of the
// shutdown grace).
func (t *table) endAll(err error) {
	t.mu.Lock()
	xs := make([]*txn, 0, len(t.byKey))
	for _, x := range t.byKey {
		xs = append(xs, x)
	}
	t.mu.Unlock()
	for _, x := range xs {
		t.end(x, err)
	}
}

// finishLocked removes x, closes its done channel, then unlocks the table
// and stops x's timer and calls its notify function outside the lock.
func (t *table) finishLocked(x *txn) {
	t.removeLocked(x)
	close(x.done)
	tm, f := x.timer, x.notify
	x.timer, x.notify = nil, nil
	t.mu.Unlock()
	if tm != nil {
		tm.Stop()
	}
	if f != nil {
		f()
	}
}

// setNotify arranges for f to be called once x has ended: now, on this
// goroutine, if it already has.
func (t *table) setNotify(x *txn, f func()) {
	t.mu.Lock()
	if x.decided {
		t.mu.Unlock()
		f()
		return
	}
	x.notify = f
	t.mu.Unlock()
}

// outcome returns how x ended and how it was asked; ok is false while it
// is pending.
func (t *table) outcome(x *txn) (v verdict, path auth.Path, ok bool, end error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return x.v, x.path, x.decided, x.end
}

// fallBack turns an iq transaction into a message one: the iq id stops
// counting and onFallback is started to send the message form.
func (t *table) fallBack(x *txn) bool {
	t.mu.Lock()
	if x.decided || x.iqID == "" {
		t.mu.Unlock()
		return false
	}
	delete(t.byStzID, x.iqID)
	x.iqID, x.full, x.path = "", "", auth.PathFallback
	f := t.onFallback
	t.mu.Unlock()
	if f != nil {
		go f(x)
	}
	return true
}

// remove drops x (a send that failed before anyone waited). Safe to repeat.
func (t *table) remove(x *txn) {
	t.mu.Lock()
	if x.decided {
		t.mu.Unlock()
		return
	}
	t.finishLocked(x)
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
