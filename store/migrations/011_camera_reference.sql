-- Each camera's reference view per light (colour day, grey infrared, night): what its snapshots
-- are judged against for scene change, dark, occlusion, blur and colour cast. The alert service
-- keeps the first healthy snapshot in each light; a maintainer who accepts a new view replaces it.
CREATE TABLE pingan.camera_reference (
    camera_id    text NOT NULL,
    light        text NOT NULL CHECK (light IN ('colour', 'grey', 'night')),
    image        bytea NOT NULL,
    taken_at     timestamptz NOT NULL,     -- when the snapshot was taken
    accepted_by  text NOT NULL,            -- the alert service (first healthy view) or a maintainer
    accepted_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (camera_id, light)
);
