#ifndef CNcurses_SHIM_H
#define CNcurses_SHIM_H
/* The wide-character API (get_wch, for UTF-8 typing and barcode scanners) is declared only with this. */
#define NCURSES_WIDECHAR 1
#include <wchar.h>
#include <ncursesw/curses.h>

/* Attributes, colour pairs and mouse masks are macros built from other macros (NCURSES_BITS,
   NCURSES_MOUSE_MASK), which Swift does not import: these wrappers return their values. */
static inline int kiosk_color_pair(int n) { return (int)COLOR_PAIR(n); }
static inline int kiosk_attr_bold(void) { return (int)A_BOLD; }
static inline int kiosk_attr_reverse(void) { return (int)A_REVERSE; }
static inline mmask_t kiosk_button1_pressed(void) { return BUTTON1_PRESSED; }
static inline mmask_t kiosk_button1_clicked(void) { return BUTTON1_CLICKED; }
static inline mmask_t kiosk_button1_released(void) { return BUTTON1_RELEASED; }

/* stdscr, LINES and COLS are C globals, which Swift 6 refuses as shared mutable state; only the
   screen's own thread calls these. */
static inline WINDOW *kiosk_stdscr(void) { return stdscr; }
static inline int kiosk_lines(void) { return LINES; }
static inline int kiosk_cols(void) { return COLS; }

#endif
