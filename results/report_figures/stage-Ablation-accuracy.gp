# Drawn by the engine from stage-Ablation-accuracy.csv. Restyle here, then rerun from this folder:
#   gnuplot stage-Ablation-accuracy.gp
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
  set terminal pngcairo size 900,560 noenhanced font "sans,11"
} else {
  set terminal png size 900,560 noenhanced
}
set output 'stage-Ablation-accuracy.png'
set datafile separator comma
set datafile columnheaders
set title "Stage Ablation: accuracy, val solid, train dashed"
set xlabel "epoch"
set ylabel "accuracy (%)"
set grid
set key outside right top
set xtics 4
plot 'stage-Ablation-accuracy.csv' using 1:2 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#1f77b4" title "best of 3.1-3.3 + crop/flip, erasing, label smoothing, AdamW, cosine 35 epochs, EMA, flip TTA val", \
     '' using 1:3 with linespoints lw 2 pt 7 ps 0.6 dt 2 lc rgb "#1f77b4" title "best of 3.1-3.3 + crop/flip, erasing, label smoothing, AdamW, cosine 35 epochs, EMA, flip TTA train", \
     '' using 1:4 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#ff7f0e" title "final without EMA val", \
     '' using 1:5 with linespoints lw 2 pt 7 ps 0.6 dt 2 lc rgb "#ff7f0e" title "final without EMA train", \
     '' using 1:6 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#2ca02c" title "final without label smoothing val", \
     '' using 1:7 with linespoints lw 2 pt 7 ps 0.6 dt 2 lc rgb "#2ca02c" title "final without label smoothing train", \
     '' using 1:8 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#d62728" title "final without random erasing val", \
     '' using 1:9 with linespoints lw 2 pt 7 ps 0.6 dt 2 lc rgb "#d62728" title "final without random erasing train", \
     '' using 1:10 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#9467bd" title "final without the cosine schedule val", \
     '' using 1:11 with linespoints lw 2 pt 7 ps 0.6 dt 2 lc rgb "#9467bd" title "final without the cosine schedule train", \
     '' using 1:12 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#8c564b" title "final with 20 epochs instead of 35 val", \
     '' using 1:13 with linespoints lw 2 pt 7 ps 0.6 dt 2 lc rgb "#8c564b" title "final with 20 epochs instead of 35 train"
