// The report's style sheet and script: constants of this program, inlined into the page so it
// works offline and as a forum attachment (no fonts, images or scripts from anywhere else).
// The script only filters and opens what the page already holds (search by address, ids,
// driver or name); the page reads completely without it.

export const REPORT_CSS = `
:root{--pass:#1a7f37;--pass-bg:#e8f5ec;--shared:#9a6700;--shared-bg:#fff5d6;--crit:#b42318;
--crit-bg:#fde8e6;--host:#57606a;--host-bg:#f3f4f6;--line:#d0d7de;--fg:#1f2328;--bg:#fff}
*{box-sizing:border-box}
body{margin:0;padding:.6rem 1rem 2rem;font:14px/1.35 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);background:var(--bg)}
h1{font-size:1.2rem;margin:0 0 .2rem}h2{font-size:1.05rem;margin:1rem 0 .4rem;border-bottom:1px solid var(--line)}
code,pre,.mono{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:12.5px}
.src{color:var(--host);margin:0 0 .4rem}
dl.facts{display:grid;grid-template-columns:repeat(auto-fill,minmax(15rem,1fr));gap:.1rem 1rem;margin:.2rem 0}
dl.facts div{display:flex;gap:.4rem;min-width:0}dl.facts dt{color:var(--host)}dl.facts dd{margin:0;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
ul.problems{list-style:none;margin:0;padding:0}
ul.problems li{padding:.15rem 0 .15rem .5rem;border-left:4px solid var(--shared);margin:.2rem 0}
ul.problems li.fail{border-color:var(--crit)}ul.problems .fix{color:#333;display:block;padding-left:1rem}
.tag{display:inline-block;font-weight:600;font-size:11px;padding:0 .3rem;border-radius:3px;margin-right:.3rem}
.tag.fail{background:var(--crit);color:#fff}.tag.warn{background:var(--shared);color:#fff}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(21rem,1fr));gap:.4rem}
.card{border:1px solid var(--line);border-radius:6px;padding:.3rem .5rem;min-width:0}
.path{color:var(--host);font-size:12px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.box{border:2px solid var(--host);border-radius:6px;margin:.25rem 0;background:var(--host-bg)}
.box.v-passable{border-color:var(--pass);background:var(--pass-bg)}
.box.v-shared{border-color:var(--shared);background:var(--shared-bg)}
.box.v-critical{border-color:var(--crit);background:var(--crit-bg)}
.box.v-none{border-style:dashed}
.box>summary{cursor:pointer;padding:.1rem .4rem;font-weight:600;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.box>summary .verdict{font-weight:400;color:var(--host)}
ul.fns{list-style:none;margin:0;padding:0 .4rem .2rem}
li.fn{display:flex;gap:.5rem;align-items:baseline;white-space:nowrap;min-width:0;overflow:hidden}
li.fn .label{overflow:hidden;text-overflow:ellipsis;min-width:0}
li.fn.target .addr{font-weight:700}
li.fn.hit{outline:2px solid #0969da;outline-offset:-1px}
.kind{color:var(--host);min-width:4.5rem}.drv{color:#0550ae}.ids{color:var(--host)}
.note{background:var(--crit);color:#fff;border-radius:3px;padding:0 .3rem;font-size:11px}
.note.vm{background:#0969da}
.acs{font-size:11px;border:1px solid var(--line);border-radius:3px;padding:0 .25rem}
.acs.yes{color:var(--pass);border-color:var(--pass)}.acs.no{color:var(--crit);border-color:var(--crit)}
.below{margin-left:1.1rem;padding-left:.5rem;border-left:2px solid var(--line)}
.via{color:var(--host);font-size:12px;margin-top:.2rem}
.bus>h3{font-size:.95rem;margin:.6rem 0 .2rem}
.legend span{margin-right:.8rem}.legend .sw{display:inline-block;width:.8rem;height:.8rem;border:2px solid;border-radius:3px;vertical-align:-2px;margin-right:.2rem}
.search{margin:.3rem 0}.search input{font:inherit;padding:.2rem .4rem;width:22rem;max-width:100%}
.hidden{display:none}
pre{background:#f6f8fa;border:1px solid var(--line);border-radius:6px;padding:.5rem;overflow:auto;white-space:pre}
.t-bold{font-weight:700}.t-dim{color:#6e7781}.t-red{color:#cf222e}.t-green{color:#1a7f37}.t-yellow{color:#9a6700}.t-cyan{color:#1b7c83}
footer{margin-top:1.5rem;color:var(--host);font-size:12px}
@media print{.search{display:none}}
`;

/**
 * Search: every function row carries its address, ids, driver and names in data-search; a
 * query hides the groups with no match and opens those with one (and the groups around them).
 */
export const REPORT_JS = `
(function(){
  var input=document.getElementById("search");var status=document.getElementById("search-status");
  if(!input)return;
  var boxes=Array.prototype.slice.call(document.querySelectorAll("#topology details.box"));
  function run(){
    var q=input.value.trim().toLowerCase();var hits=0;
    boxes.forEach(function(b){b.classList.remove("hidden");});
    document.querySelectorAll("#topology li.fn").forEach(function(li){
      var hit=q!==""&&li.getAttribute("data-search").indexOf(q)>=0;
      li.classList.toggle("hit",hit);if(hit)hits++;
    });
    if(q===""){status.textContent="";return;}
    boxes.slice().reverse().forEach(function(b){
      var own=b.querySelector(":scope>ul.fns>li.hit");var inner=b.querySelector(":scope details.box:not(.hidden)");
      if(own||inner){b.open=true;}else{b.classList.add("hidden");}
    });
    status.textContent=hits+" function"+(hits===1?"":"s")+" match";
  }
  input.addEventListener("input",run);
})();
`;
