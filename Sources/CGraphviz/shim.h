// Graphviz's layout and rendering library (Debian's libgraphviz-dev; scripts/setup installs it).
#include <graphviz/gvc.h>
