-- Posts become a projection of their own ("posts"); the "stations" projection kept them until
-- now. The new projection starts where "stations" is, so that an existing database neither
-- re-applies the posts' events onto the rows it has nor skips any, and it takes over what
-- "stations" holds back of posts: records with a post row move, and a record held back at its
-- first event (no row anywhere, so it may be either) is held by both, as an event nobody can
-- decode is; a retry releases it where it does not belong.
INSERT INTO projection_positions (name, position, updated_at)
SELECT 'posts', position, updated_at FROM projection_positions WHERE name = 'stations'
ON CONFLICT (name) DO NOTHING;

INSERT INTO held_back (projection, entity_id, position, error, held_at)
SELECT 'posts', entity_id, position, error, held_at FROM held_back
WHERE projection = 'stations'
    AND NOT EXISTS (SELECT 1 FROM stations WHERE stations.id = held_back.entity_id)
ON CONFLICT (projection, entity_id) DO NOTHING;

DELETE FROM held_back
WHERE projection = 'stations'
    AND EXISTS (SELECT 1 FROM posts WHERE posts.id = held_back.entity_id);
