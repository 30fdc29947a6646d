package receiver

import (
	"os/user"
	"strconv"
	"sync"
)

// idMap maps the sender's user or group names to local ids for one
// transfer, as rsync's receiver maps its id list once per connection: each
// name is looked up once, and the entries of a tree, which mostly share an
// owner, hit the last answer without hashing the name. A name the system
// does not know maps to nothing, and the entry keeps its numeric id.
type idMap struct {
	lookup func(name string) (string, error) // the name's id, in decimal

	mu       sync.Mutex // the generator and the receiver both ask
	ids      map[string]int64
	lastName string
	lastID   int64
}

func newUserMap() *idMap {
	return &idMap{lookup: func(name string) (string, error) {
		u, err := user.Lookup(name)
		if err != nil {
			return "", err
		}
		return u.Uid, nil
	}}
}

func newGroupMap() *idMap {
	return &idMap{lookup: func(name string) (string, error) {
		g, err := user.LookupGroup(name)
		if err != nil {
			return "", err
		}
		return g.Gid, nil
	}}
}

// id returns the local id of name, false if the system has none.
func (m *idMap) id(name string) (uint32, bool) {
	m.mu.Lock()
	id, ok := m.lastID, name == m.lastName && m.ids != nil
	if !ok {
		id, ok = m.ids[name]
		if !ok {
			id = -1
			if s, err := m.lookup(name); err == nil {
				if v, err := strconv.ParseUint(s, 10, 32); err == nil {
					id = int64(v)
				}
			}
			if m.ids == nil {
				m.ids = map[string]int64{}
			}
			m.ids[name] = id
		}
		m.lastName, m.lastID = name, id
	}
	m.mu.Unlock()
	return uint32(id), id >= 0
}
