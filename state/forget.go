package state

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// forgetModuleScript removes everything Redis holds of a module deleted from the model, in one
// atomic step, so no subscriber sees a key vanish without its announcement: the status hash with
// null published on each field's channel (as clearStatusScript), the metadata with its
// interface-change publish (every node drops its cached copy), and its start failure. A module
// that has none of them publishes nothing, so a second call is a no-op.
// KEYS[1] = status/<module>, KEYS[2] = interface/<module>, KEYS[3] = engine/module_errors;
// ARGV[1] = the status channel prefix status/<module>/; ARGV[2] = the interface-change channel;
// ARGV[3] = the module id.
var forgetModuleScript = redis.NewScript(`
local n = 0
local fields = redis.call('HKEYS', KEYS[1])
if #fields > 0 then
  redis.call('DEL', KEYS[1])
  for _, f in ipairs(fields) do
    redis.call('PUBLISH', ARGV[1] .. f, 'null')
  end
  n = n + #fields
end
if redis.call('DEL', KEYS[2]) == 1 then
  redis.call('PUBLISH', ARGV[2], ARGV[3])
  n = n + 1
end
return n + redis.call('HDEL', KEYS[3], ARGV[3])
`)

// ForgetModule deletes what Redis holds of a module that left the model: its status (null
// published per field), its metadata (announced on InterfaceChangeChannel) and its start failure
// in ModuleErrorsKey, and forgets it in this node's share so none of it is written back. It
// reports how many of those it removed (0: nothing was left). Call it once the module is stopped
// (docs/protocol.md §3): a status its old instance set afterwards would make the hash again.
func (s *Store) ForgetModule(ctx context.Context, moduleID string) (int, error) {
	s.Unhost(moduleID)
	n, err := s.writes.run(ctx, forgetModuleScript,
		[]string{StatusKey(moduleID), InterfaceKey(moduleID), ModuleErrorsKey},
		StatusChannel(moduleID, ""), InterfaceChangeChannel, moduleID).Int()
	// The interface-change echo drops it too, but a read here right after must not find it.
	s.cache.invalidateMetadata(moduleID)
	if err != nil {
		return 0, redisErr("state: forget module "+moduleID, err)
	}
	return n, nil
}
