// The case form's citizen picker: search /api/v1/citizens (name without diacritics or ID
// number) and put the chosen citizen in the first empty row of the parties table. Without
// JavaScript the officer types the citizen's number into a row.
const q = document.getElementById("party-q");
const find = document.getElementById("party-find");
const results = document.getElementById("party-results");
const body = document.querySelector("#parties tbody");

function emptyRow() {
  for (const row of body.rows) {
    if (!row.querySelector("input[name=party_citizen_id]").value.trim()) return row;
  }
  const row = body.rows[body.rows.length - 1].cloneNode(true);
  row.querySelector("input").value = "";
  row.querySelector(".party-name").textContent = "";
  body.appendChild(row);
  return row;
}

function choose(item) {
  const taken = [...body.querySelectorAll("input[name=party_citizen_id]")].some(
    (input) => input.value.trim() === String(item.id),
  );
  if (taken) return;
  const row = emptyRow();
  row.querySelector("input[name=party_citizen_id]").value = String(item.id);
  row.querySelector(".party-name").textContent = item.full_name;
  row.querySelector("select").focus();
}

async function search() {
  const text = q.value.trim();
  results.replaceChildren();
  if (!text) return;
  const resp = await fetch(`/api/v1/citizens?per_page=20&q=${encodeURIComponent(text)}`, {
    credentials: "same-origin",
  });
  if (!resp.ok) {
    results.append(Object.assign(document.createElement("li"), { textContent: "Không tìm được." }));
    return;
  }
  const data = await resp.json();
  if (!data.items.length) {
    results.append(
      Object.assign(document.createElement("li"), { textContent: "Không có công dân phù hợp." }),
    );
  }
  for (const item of data.items) {
    const li = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = "Thêm";
    button.addEventListener("click", () => choose(item));
    li.append(`${item.full_name} · ${item.id_number || "—"} · ${item.address || ""} `, button);
    results.append(li);
  }
}

find.addEventListener("click", search);
q.addEventListener("keydown", (event) => {
  if (event.key === "Enter") {
    event.preventDefault();
    search();
  }
});
