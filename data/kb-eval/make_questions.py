#!/usr/bin/env python3
"""Writes questions.jsonl (run from data/kb-eval) and checks that every answer passage occurs in its
corpus file (whitespace folded). Questions are paraphrases written for this set; answers are verbatim."""
import json
Q = [
("Apache-2.0.txt","Is the patent licence from contributors revocable?","irrevocable (except as stated in this section) patent license"),
("Apache-2.0.txt","What happens to my patent rights if I sue someone claiming the work infringes my patent?","then any patent licenses granted to You under this License for that Work shall terminate as of the date such litigation is filed"),
("Apache-2.0.txt","When I change files in Apache-licensed code and redistribute them, how must I mark those files?","You must cause any modified files to carry prominent notices stating that You changed the files"),
("Apache-2.0.txt","Am I allowed to use the licensor's brand names and trademarks under the Apache license?","This License does not grant permission to use the trade names, trademarks, service marks, or product names of the Licensor"),
("Apache-2.0.txt","What do I have to hand to people who receive a redistributed copy of the Apache-licensed work?","You must give any other recipients of the Work or Derivative Works a copy of this License"),
("Apache-2.0.txt","What must be done with the NOTICE file's attribution notices when distributing derivative works?","then any Derivative Works that You distribute must include a readable copy of the attribution notices contained within such NOTICE file"),
("Apache-2.0.txt","Are contributions I send in automatically covered by the Apache license terms?","any Contribution intentionally submitted for inclusion in the Work by You to the Licensor shall be under the terms and conditions of this License, without any additional terms or conditions"),
("Apache-2.0.txt","Can I sell warranty or support services for Apache-licensed software?","You may choose to offer, and charge a fee for, acceptance of support, warranty, indemnity"),
("Apache-2.0.txt","What percentage of share ownership counts as control of a legal entity in the Apache license?","ownership of fifty percent (50%) or more of the outstanding shares"),
("Apache-2.0.txt","How do I fill in the boilerplate notice when applying the Apache License to my own project?","with the fields enclosed by brackets \"[]\""),
("GPL-3.txt","In GPL version 3, what is meant by the source code of a work?","The \"source code\" for a work means the preferred form of the work for making modifications to it."),
("GPL-3.txt","For how many years must a written offer to provide source code stay valid?","valid for at least three years"),
("GPL-3.txt","What is Installation Information for a consumer device running GPLv3 software?","any methods, procedures, authorization keys, or other information required to install and execute modified versions"),
("GPL-3.txt","After I stop violating the GPLv3, how does my license come back?","your license from a particular copyright holder is reinstated (a) provisionally, unless and until the copyright holder explicitly and finally terminates your license"),
("GPL-3.txt","How many days does a first-time violator of GPLv3 have to fix the problem after being notified?","you cure the violation prior to 30 days after your receipt of the notice"),
("GPL-3.txt","Do I need to accept the GNU GPL just to run the program?","You are not required to accept this License in order to receive or run a copy of the Program."),
("GPL-3.txt","Does GPL-covered software count as a technological protection measure under the WIPO treaty?","No covered work shall be deemed part of an effective technological measure under any applicable law fulfilling obligations under article 11 of the WIPO copyright treaty"),
("GPL-3.txt","What does it mean to convey a work under GPLv3?","To \"convey\" a work means any kind of propagation that enables other parties to make or receive copies."),
("GPL-3.txt","May GPLv3 code be linked with software under the Affero license?","you have permission to link or combine any covered work with a work licensed under version 3 of the GNU Affero General Public License"),
("GPL-3.txt","What should an interactive GPLv3 program print at startup?","make it output a short notice like this when it starts in an interactive mode"),
("GPL-3.txt","Is it allowed to ask for money for copies I distribute under GPLv3?","You may charge any price or no price for each copy that you convey"),
("GPL-3.txt","If a court order forces conditions on me that conflict with GPLv3, am I excused from the license?","If conditions are imposed on you (whether by court order, agreement or otherwise) that contradict the conditions of this License, they do not excuse you from the conditions of this License."),
("GPL-3.txt","What is an aggregate in GPL version 3?","A compilation of a covered work with other separate and independent works"),
("GPL-3.txt","Which GPL version can I use if the program does not state a version number?","If the Program does not specify a version number of the GNU General Public License, you may choose any version ever published by the Free Software Foundation."),
("GPL-2.txt","Under GPL version 2, which operating system components need not be included in the distributed source code?","the source code distributed need not include anything that is normally distributed (in either source or binary form) with the major components (compiler, kernel, and so on) of the operating system"),
("GPL-2.txt","In GPLv2, what if a patent infringement judgment imposes conditions that contradict the license?","If, as a consequence of a court judgment or allegation of patent infringement or for any other reason (not limited to patent issues), conditions are imposed on you"),
("GPL-2.txt","Under GPL 2, can the copyright holder add geographical restrictions when patents restrict use in some countries?","If the distribution and/or use of the Program is restricted in certain countries either by patents or by copyrighted interfaces"),
("GPL-2.txt","What are the example commands in GPL v2 that show the warranty and redistribution conditions?","The hypothetical commands `show w' and `show c' should show the appropriate parts of the General Public License."),
("GPL-2.txt","In the GPL version 2 sample disclaimer, which company disclaims copyright in the program?","Yoyodyne, Inc., hereby disclaims all copyright interest in the program"),
("GPL-2.txt","Does GPLv2 restrict the act of running the program?","The act of running the Program is not restricted"),
("GPL-2.txt","Under GPL version 2, what must modified files state?","You must cause the modified files to carry prominent notices stating that you changed the files and the date of any change."),
("LGPL-2.1.txt","What is a work that uses the Library in the LGPL?","A program that contains no derivative of any portion of the Library, but is designed to work with the Library by being compiled or linked with it, is called a \"work that uses the Library\"."),
("LGPL-2.1.txt","Can I switch a copy of an LGPL library to the regular GPL?","You may opt to apply the terms of the ordinary GNU General Public License instead of this License to a given copy of the Library."),
("LGPL-2.1.txt","How long may inline functions from the library's header files be before object code counts as a derivative work?","small macros and small inline functions (ten lines or less in length)"),
("LGPL-2.1.txt","Why is it called the Lesser General Public License?","We call this license the \"Lesser\" General Public License because it does Less to protect the user's freedom than the ordinary General Public License."),
("LGPL-2.1.txt","Which way of linking lets users replace an LGPL library with a modified version?","Use a suitable shared library mechanism for linking with the Library."),
("LGPL-2.1.txt","If an application does not provide a function the modified library needs, what should the library still do?","the facility still operates, and performs whatever part of its purpose remains meaningful"),
("MPL-2.0.txt","What counts as a Larger Work under the Mozilla license?","\"Larger Work\" means a work that combines Covered Software with other material, in a separate file or files, that is not Covered Software."),
("MPL-2.0.txt","Under the Mozilla Public License, once I stop infringing, how are my rights from a contributor restored?","Contributor are reinstated (a) provisionally, unless and until such Contributor explicitly and finally terminates Your grants"),
("MPL-2.0.txt","What is the notice in Exhibit B of the MPL called?","\"Incompatible With Secondary Licenses\" Notice"),
("MPL-2.0.txt","Where can a lawsuit about the Mozilla Public License be filed?","Any litigation relating to this License may be brought only in the courts of a jurisdiction where the defendant maintains its principal place of business"),
("MPL-2.0.txt","Does the MPL give me any rights to contributors' logos or trademarks?","This License does not grant any rights in the trademarks, service marks, or logos of any Contributor"),
("MPL-2.0.txt","Can I ship an MPL program's executable under a different license?","You may distribute such Executable Form under the terms of this License, or sublicense it under different terms"),
("MPL-2.0.txt","Who is the steward of the Mozilla Public License?","Mozilla Foundation is the license steward."),
("MPL-2.0.txt","Which licenses are the Secondary Licenses in MPL 2.0?","\"Secondary License\" means either the GNU General Public License, Version 2.0, the GNU Lesser General Public License, Version 2.1, the GNU Affero General Public License, Version 3.0, or any later versions of those licenses."),
("MPL-2.0.txt","According to the MPL, who bears the risk about the software's quality?","quality and performance of the Covered Software is with You."),
("BSD.txt","May I use the university's name to promote my product built on BSD code?","Neither the name of the University nor the names of its contributors may be used to endorse or promote products derived from this software without specific prior written permission."),
("BSD.txt","What do binary redistributions of BSD-licensed software have to include?","Redistributions in binary form must reproduce the above copyright notice, this list of conditions and the following disclaimer in the documentation and/or other materials provided with the distribution."),
("BSD.txt","Who owns the copyright in the BSD license text?","The Regents of the University of California"),
("CC0-1.0.txt","Which rights about a person's likeness does CC0 cover?","publicity and privacy rights pertaining to a person's image or likeness depicted in a Work"),
("CC0-1.0.txt","What if a court finds the CC0 waiver invalid?","Should any part of the Waiver for any reason be judged legally invalid or ineffective under applicable law, then the Waiver shall be preserved to the maximum extent permitted"),
("CC0-1.0.txt","Are patents and trademarks waived by CC0?","No trademark or patent rights held by Affirmer are waived, abandoned, surrendered, licensed or otherwise affected by this document."),
("CC0-1.0.txt","Does Creative Commons give legal advice as a law firm?","CREATIVE COMMONS CORPORATION IS NOT A LAW FIRM AND DOES NOT PROVIDE LEGAL SERVICES."),
("CC0-1.0.txt","What is the person who dedicates a work with CC0 called?","the person associating CC0 with a Work (the \"Affirmer\")"),
("Artistic.txt","Under the Artistic License, am I allowed to charge for copying the package?","You may charge a reasonable copying fee for any distribution of this Package."),
("Artistic.txt","Who is the Copyright Holder in the Artistic License?","\"Copyright Holder\" is whoever is named in the copyright or copyrights for the package."),
("Artistic.txt","Can I sell the Perl package itself for a fee?","You may not charge a fee for this Package itself"),
("Artistic.txt","How is a reasonable copying fee defined?","\"Reasonable copying fee\" is whatever you can justify on the basis of media cost, duplication charges, time of people involved, and so on."),
("Artistic.txt","Are subroutines I link into the package considered part of it under the Artistic License?","Package shall not be considered part of this Package, but are the equivalent of input"),
]
import re
def fold(s): return ' '.join(s.split())
bad=0
with open('questions.jsonl','w') as f:
    for src,q,a in Q:
        t=fold(open('corpus/'+src).read())
        if fold(a) not in t:
            bad+=1; print('MISSING', src, a[:70])
        f.write(json.dumps({"question":q,"source":src,"answer":a})+"\n")
print(len(Q),'questions', bad,'missing')
