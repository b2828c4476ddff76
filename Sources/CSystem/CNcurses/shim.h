#ifndef CNcurses_SHIM_H
#define CNcurses_SHIM_H
#include <ncursesw/curses.h>

#endif
