# Drawn by the engine from stage-Stem-val_acc.csv. Restyle here, then rerun from this folder:
#   gnuplot stage-Stem-val_acc.gp
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
  set terminal pngcairo size 900,560 noenhanced font "sans,11"
} else {
  set terminal png size 900,560 noenhanced
}
set output 'stage-Stem-val_acc.png'
set datafile separator comma
set datafile columnheaders
set title "Stage Stem: validation accuracy"
set xlabel "epoch"
set ylabel "val accuracy (%)"
set grid
set key outside right top
set xtics 1
plot 'stage-Stem-val_acc.csv' using 1:2 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#1f77b4" title "stem-7x7", \
     '' using 1:3 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#ff7f0e" title "stem-3x3"
