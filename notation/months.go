package notation

// monthNames are the month names of the supported languages, January first,
// in every form they take in a written date: the nominative, and the
// genitive, partitive or locative a date uses where the language inflects
// ("3 października", "3. lokakuuta", "3. oktobrī"). Forms are separated by
// '|'; matching ignores case. Abbreviations of three letters or more are
// recognised from the language's own names.
var monthNames = map[string][12]string{
	"bg": {"януари", "февруари", "март", "април", "май", "юни", "юли", "август", "септември", "октомври", "ноември", "декември"},
	"cs": {"leden|ledna", "únor|února", "březen|března", "duben|dubna", "květen|května", "červen|června",
		"červenec|července", "srpen|srpna", "září", "říjen|října", "listopad|listopadu", "prosinec|prosince"},
	"da": {"januar", "februar", "marts", "april", "maj", "juni", "juli", "august", "september", "oktober", "november", "december"},
	"de": {"Januar|Jänner", "Februar|Feber", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober", "November", "Dezember"},
	"el": {"Ιανουάριος|Ιανουαρίου", "Φεβρουάριος|Φεβρουαρίου", "Μάρτιος|Μαρτίου", "Απρίλιος|Απριλίου", "Μάιος|Μαΐου|Μαίου",
		"Ιούνιος|Ιουνίου", "Ιούλιος|Ιουλίου", "Αύγουστος|Αυγούστου", "Σεπτέμβριος|Σεπτεμβρίου", "Οκτώβριος|Οκτωβρίου",
		"Νοέμβριος|Νοεμβρίου", "Δεκέμβριος|Δεκεμβρίου"},
	"en": {"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"},
	"es": {"enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre|setiembre", "octubre", "noviembre", "diciembre"},
	"et": {"jaanuar|jaanuaril", "veebruar|veebruaril", "märts|märtsil", "aprill|aprillil", "mai|mail", "juuni|juunil", "juuli|juulil",
		"august|augustil", "september|septembril", "oktoober|oktoobril", "november|novembril", "detsember|detsembril"},
	"fi": {"tammikuu|tammikuuta", "helmikuu|helmikuuta", "maaliskuu|maaliskuuta", "huhtikuu|huhtikuuta", "toukokuu|toukokuuta",
		"kesäkuu|kesäkuuta", "heinäkuu|heinäkuuta", "elokuu|elokuuta", "syyskuu|syyskuuta", "lokakuu|lokakuuta",
		"marraskuu|marraskuuta", "joulukuu|joulukuuta"},
	"fr": {"janvier", "février|fevrier", "mars", "avril", "mai", "juin", "juillet", "août|aout", "septembre", "octobre", "novembre", "décembre|decembre"},
	"ga": {"Eanáir", "Feabhra", "Márta", "Aibreán", "Bealtaine", "Meitheamh", "Iúil", "Lúnasa", "Meán Fómhair", "Deireadh Fómhair", "Samhain", "Nollaig"},
	"hr": {"siječanj|siječnja", "veljača|veljače", "ožujak|ožujka", "travanj|travnja", "svibanj|svibnja", "lipanj|lipnja",
		"srpanj|srpnja", "kolovoz|kolovoza", "rujan|rujna", "listopad|listopada", "studeni|studenoga|studenog", "prosinac|prosinca"},
	"hu": {"január", "február", "március", "április", "május", "június", "július", "augusztus", "szeptember", "október", "november", "december"},
	"is": {"janúar", "febrúar", "mars", "apríl", "maí", "júní", "júlí", "ágúst", "september", "október", "nóvember", "desember"},
	"it": {"gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio", "agosto", "settembre", "ottobre", "novembre", "dicembre"},
	"lt": {"sausis|sausio", "vasaris|vasario", "kovas|kovo", "balandis|balandžio", "gegužė|gegužės", "birželis|birželio",
		"liepa|liepos", "rugpjūtis|rugpjūčio", "rugsėjis|rugsėjo", "spalis|spalio", "lapkritis|lapkričio", "gruodis|gruodžio"},
	"lv": {"janvāris|janvārī|janvāra", "februāris|februārī|februāra", "marts|martā|marta", "aprīlis|aprīlī|aprīļa", "maijs|maijā|maija",
		"jūnijs|jūnijā|jūnija", "jūlijs|jūlijā|jūlija", "augusts|augustā|augusta", "septembris|septembrī|septembra",
		"oktobris|oktobrī|oktobra", "novembris|novembrī|novembra", "decembris|decembrī|decembra"},
	"mt": {"Jannar", "Frar", "Marzu", "April", "Mejju", "Ġunju|Gunju", "Lulju", "Awwissu", "Settembru", "Ottubru", "Novembru", "Diċembru|Dicembru"},
	"nb": {"januar", "februar", "mars", "april", "mai", "juni", "juli", "august", "september", "oktober", "november", "desember"},
	"nl": {"januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september", "oktober", "november", "december"},
	"pl": {"styczeń|stycznia", "luty|lutego", "marzec|marca", "kwiecień|kwietnia", "maj|maja", "czerwiec|czerwca",
		"lipiec|lipca", "sierpień|sierpnia", "wrzesień|września", "październik|października", "listopad|listopada", "grudzień|grudnia"},
	"pt": {"janeiro", "fevereiro", "março|marco", "abril", "maio", "junho", "julho", "agosto", "setembro", "outubro", "novembro", "dezembro"},
	"ro": {"ianuarie", "februarie", "martie", "aprilie", "mai", "iunie", "iulie", "august", "septembrie", "octombrie", "noiembrie", "decembrie"},
	"sk": {"január|januára", "február|februára", "marec|marca", "apríl|apríla", "máj|mája", "jún|júna", "júl|júla",
		"august|augusta", "september|septembra", "október|októbra", "november|novembra", "december|decembra"},
	"sl": {"januar|januarja", "februar|februarja", "marec|marca", "april|aprila", "maj|maja", "junij|junija", "julij|julija",
		"avgust|avgusta", "september|septembra", "oktober|oktobra", "november|novembra", "december|decembra"},
	"sv": {"januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti", "september", "oktober", "november", "december"},
}
