//! Named virtualenv workspaces under $WARP_HOME (default ~/.warp/projects).
