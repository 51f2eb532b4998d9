# Drawn by the engine from stage-Final-val_acc.csv. Restyle here, then rerun from this folder:
#   gnuplot stage-Final-val_acc.gp
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
  set terminal pngcairo size 900,560 noenhanced font "sans,11"
} else {
  set terminal png size 900,560 noenhanced
}
set output 'stage-Final-val_acc.png'
set datafile separator comma
set datafile columnheaders
set title "Stage Final: validation accuracy"
set xlabel "epoch"
set ylabel "val accuracy (%)"
set grid
set key outside right top
set xtics 4
plot 'stage-Final-val_acc.csv' using 1:2 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#1f77b4" title "final"
