//! Permissions for arbitrary UIDs in group 0 (what sclorg's fix-permissions does).
